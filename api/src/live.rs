//! Live measurement events: published after commit, delivered to Socket.IO rooms per cell.

use loam_ingest::LiveEvent;
use tokio::sync::broadcast;

/// Fans committed measurements out to whoever listens (the Socket.IO layer).
#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<LiveEvent>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(4096).0,
        }
    }
}

impl LiveHub {
    /// Announces committed measurements; with nobody listening they are dropped.
    pub fn publish(&self, events: &[LiveEvent]) {
        for event in events {
            let _ = self.sender.send(event.clone());
        }
    }

    /// A new listener.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }
}
