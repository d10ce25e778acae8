//! The live hub: committed measurements fanned out to every replica's Socket.IO bridge, through
//! Redis when there is one. A leaf: it knows events and channels, not requests or rooms.

use std::time::Duration;

use loam_ingest::LiveEvent;
use tokio::sync::{broadcast, mpsc};

/// Fans committed measurements out to the Socket.IO bridge of every replica: straight to the
/// local bridge without Redis; through a Redis channel with it, so clients connected to any
/// replica get every event. Publishing never blocks an upload: a full queue or a Redis outage
/// falls back to local delivery.
#[derive(Clone)]
pub struct LiveHub {
    local: broadcast::Sender<LiveEvent>,
    outbox: Option<mpsc::Sender<LiveEvent>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            local: broadcast::channel(4096).0,
            outbox: None,
        }
    }
}

impl LiveHub {
    /// A hub for one process; with Redis it starts the publisher and subscriber tasks (needs a
    /// Tokio runtime).
    pub fn start(redis: Option<redis::Client>, prefix: &str) -> Self {
        let mut hub = Self::default();
        if let Some(client) = redis {
            let channel = format!("{prefix}live");
            let (tx, rx) = mpsc::channel(4096);
            hub.outbox = Some(tx);
            tokio::spawn(publish_to_redis(
                client.clone(),
                channel.clone(),
                rx,
                hub.local.clone(),
            ));
            tokio::spawn(relay_from_redis(client, channel, hub.local.clone()));
        }
        hub
    }

    /// Announces committed measurements.
    pub fn publish(&self, events: &[LiveEvent]) {
        for event in events {
            let queued = self
                .outbox
                .as_ref()
                .is_some_and(|out| out.try_send(event.clone()).is_ok());
            if !queued {
                let _ = self.local.send(event.clone());
            }
        }
    }

    /// A new listener (the Socket.IO bridge).
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.local.subscribe()
    }
}

const RETRY: Duration = Duration::from_secs(1);

async fn publish_to_redis(
    client: redis::Client,
    channel: String,
    mut outbox: mpsc::Receiver<LiveEvent>,
    local: broadcast::Sender<LiveEvent>,
) {
    let mut conn = None;
    while let Some(event) = outbox.recv().await {
        if conn.is_none() {
            conn = client.get_multiplexed_async_connection().await.ok();
        }
        let sent = match (conn.as_mut(), serde_json::to_string(&event)) {
            (Some(c), Ok(text)) => redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(text)
                .query_async::<i64>(c)
                .await
                .is_ok(),
            _ => false,
        };
        if !sent {
            // Redis is down: this replica's clients still get the event.
            conn = None;
            let _ = local.send(event);
        }
    }
}

async fn relay_from_redis(
    client: redis::Client,
    channel: String,
    local: broadcast::Sender<LiveEvent>,
) {
    use futures_util::StreamExt;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channel).await.is_ok() {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(text) = message.get_payload::<String>() else {
                            continue;
                        };
                        match serde_json::from_str::<LiveEvent>(&text) {
                            Ok(event) => {
                                let _ = local.send(event);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "ignored a malformed live event from Redis")
                            }
                        }
                    }
                }
                tracing::warn!("lost the Redis live-event subscription; reconnecting");
            }
            Err(e) => tracing::debug!(error = %e, "Redis unavailable for live events; retrying"),
        }
        tokio::time::sleep(RETRY).await;
    }
}
