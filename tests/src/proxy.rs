//! A TCP proxy that can be switched off and on, to take a real dependency "down" for one test
//! without stopping the shared service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections to a target while up; when down, cuts every open connection and
/// refuses new ones; when frozen, keeps every connection open (and accepts new ones) but
/// forwards nothing, like a network that silently stopped delivering.
pub struct ToggleProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    freeze: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl ToggleProxy {
    /// Starts forwarding from a random local port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let frozen = Arc::new(AtomicBool::new(false));
        let (cut, _) = watch::channel(0u64);
        let (freeze, _) = watch::channel(0u64);
        let task = {
            let (up, frozen) = (Arc::clone(&up), Arc::clone(&frozen));
            let (cut, freeze) = (cut.clone(), freeze.clone());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let mut cut_rx = cut.subscribe();
                    let mut freeze_rx = freeze.subscribe();
                    let frozen_now = frozen.load(Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut inbound = inbound;
                        if frozen_now {
                            // Held open, never answered, until the proxy is cut or thawed.
                            let _ = cut_rx.changed().await;
                            return;
                        }
                        let Ok(mut outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut_rx.changed() => {}
                            _ = freeze_rx.changed() => {
                                let _ = cut_rx.changed().await;
                            }
                        }
                    });
                }
            })
        };
        Self {
            addr,
            up,
            frozen,
            cut,
            freeze,
            task,
        }
    }

    /// The address to connect to instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Takes the dependency down: open connections are cut, new ones closed at once.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Freezes the dependency: connections stay open and new ones are accepted, but nothing
    /// is forwarded either way.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
        self.freeze.send_modify(|generation| *generation += 1);
    }

    /// Brings the dependency back (frozen connections are cut, new ones forwarded again).
    pub fn up(&self) {
        if self.frozen.swap(false, Ordering::SeqCst) {
            self.cut.send_modify(|generation| *generation += 1);
        }
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for ToggleProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
