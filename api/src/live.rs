//! Live measurement events over Socket.IO (reference §8): clients join rooms `cell_<id>` with
//! `subscribe_cells`, and every committed upload is pushed to its cell's room as
//! `measurement_received`. Outside ENTS compatibility mode a client joins only the rooms of
//! cells it may read, as the identity in its connect payload `{"token": "<jwt>"}` allows.

use loam_ingest::LiveEvent;
use serde::Serialize;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use crate::access::{self, Need};
use crate::identity::{Caller, Person};
use crate::state::AppState;

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

/// The `measurement_received` payload, in ENTS's field names.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(rename = "cellId")]
    cell_id: u32,
    #[serde(rename = "loggerId")]
    logger_id: Option<u32>,
    timestamp: i64,
    data: &'a serde_json::Map<String, Value>,
    obj_count: u32,
}

fn room(cell_id: u32) -> String {
    format!("cell_{cell_id}")
}

/// Cell ids as the dashboard sends them: numbers or numeric strings.
fn cell_ids(data: &Value) -> Vec<u32> {
    data.get("cellIds")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|v| match v {
                    Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the Socket.IO layer and starts the task that pushes committed events to rooms.
/// Needs a running Tokio runtime.
pub(crate) fn socket_layer(state: &AppState) -> socketioxide::layer::SocketIoLayer {
    let (layer, io) = SocketIo::builder().build_layer();
    let connect_state = state.clone();
    io.ns(
        "/",
        async move |socket: SocketRef, TryData(auth): TryData<Value>| {
            let token = auth
                .ok()
                .and_then(|a| a.get("token").and_then(Value::as_str).map(str::to_owned));
            let caller = match token {
                None => Caller::Anonymous,
                Some(token) => match connect_state
                    .auth()
                    .tokens
                    .verify(&token, loam_auth::TokenKind::Access)
                {
                    Ok(claims) => Caller::Person(Person {
                        user_id: claims.sub,
                        is_admin: claims.adm,
                        via_key: false,
                    }),
                    Err(_) => {
                        // A present credential is always checked: a bad token gets no connection.
                        let _ = socket.disconnect();
                        return;
                    }
                },
            };
            socket.extensions.insert(caller);
            let state = connect_state.clone();
            socket.on(
                "subscribe_cells",
                async move |socket: SocketRef, TryData(data): TryData<Value>| {
                    let Ok(data) = data else { return };
                    let caller = socket
                        .extensions
                        .get::<Caller>()
                        .unwrap_or(Caller::Anonymous);
                    for id in cell_ids(&data) {
                        if access::cell(&state, &caller, id, Need::Read).await.is_ok() {
                            socket.join(room(id));
                        }
                    }
                },
            );
            socket.on(
                "unsubscribe_cells",
                async |socket: SocketRef, TryData(data): TryData<Value>| {
                    if let Ok(data) = data {
                        for id in cell_ids(&data) {
                            socket.leave(room(id));
                        }
                    }
                },
            );
        },
    );
    let mut events = state.live().subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    let payload = Payload {
                        kind: &e.kind,
                        cell_id: e.cell_id,
                        logger_id: e.logger_id,
                        timestamp: e.timestamp,
                        data: &e.data,
                        obj_count: e.obj_count,
                    };
                    if let Err(err) = io
                        .to(room(e.cell_id))
                        .emit("measurement_received", &payload)
                        .await
                    {
                        tracing::debug!(error = %err, "live event not delivered");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "live subscribers fell behind; events were skipped");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    layer
}
