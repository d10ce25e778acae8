//! Live measurement events over Socket.IO (reference §8): clients join rooms `cell_<id>` with
//! `subscribe_cells`, and every committed upload is pushed to its cell's room as
//! `measurement_received`. Outside ENTS compatibility mode a client joins only the rooms of
//! cells it may read, as the identity in its connect payload `{"token": "<jwt>"}` allows.
//! A signed-in person also hears the events of their own alert rules as `alert`.

use serde::Serialize;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use tokio::sync::broadcast;

use crate::access::{self, Need};
use crate::caller::Caller;
use crate::state::AppState;

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

/// The room of a signed-in person: alert events go only to their rule's owner.
fn user_room(user_id: &str) -> String {
    format!("user_{user_id}")
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
                    Ok(claims) => {
                        match crate::identity::person_of_token(&connect_state.accounts(), claims)
                            .await
                        {
                            Ok(caller) => caller,
                            Err(_) => {
                                // A disabled account (or an unreachable database) gets no connection.
                                let _ = socket.disconnect();
                                return;
                            }
                        }
                    }
                    Err(_) => {
                        // A present credential is always checked: a bad token gets no connection.
                        let _ = socket.disconnect();
                        return;
                    }
                },
            };
            // A signed-in person hears the events of their own alert rules in their own room.
            if let Caller::Person(p) = &caller {
                socket.join(user_room(&p.user_id));
            }
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
                        if access::cell(&state.gate(), &caller, id, Need::Read)
                            .await
                            .is_ok()
                        {
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
    tokio::spawn(push_alerts(state.db().clone(), io.clone()));
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

/// How often the alert feed looks for new events (evaluated by whichever runner took the job).
const ALERT_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Pushes alert events as `alert` to their rule owner's room (never to a cell's room: a rule's
/// name and message are its owner's, and anyone may subscribe to a public cell), following the
/// events table from where it stood at start: every replica does, so the owner hears each
/// event on whichever replica they are connected to.
async fn push_alerts(db: loam_db::Db, io: SocketIo) {
    let mut after = loop {
        match db.run(loam_db::alerts::latest_event_id).await {
            Ok(id) => break id,
            Err(_) => tokio::time::sleep(ALERT_POLL * 5).await,
        }
    };
    let mut tick = tokio::time::interval(ALERT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(events) = db
            .run(move |c| loam_db::alerts::events_after(c, after, 500))
            .await
        else {
            continue;
        };
        for (event, rule_name, owner) in events {
            after = after.max(event.id);
            let payload = loam_jobs::alerts::event_response(&event, &rule_name);
            if let Err(err) = io.to(user_room(&owner)).emit("alert", &payload).await {
                tracing::debug!(error = %err, "alert event not delivered");
            }
        }
    }
}
