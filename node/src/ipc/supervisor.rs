//! The node's own `bitcoin-wallet` child: spawned over a socketpair at
//! start, restarted with backoff when it dies (or at once on a
//! `loadwallet`), and given back the wallets it had loaded.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shm_ipc::{spawn_child, SpawnOptions};

use super::hub::Hub;
use super::peer::Peer;

/// First and longest pause before a restart.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A child that lived this long restarts after the shortest pause.
const STABLE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    peer: Option<Arc<Peer>>,
    /// Wallets the child should have loaded (restored after a restart).
    loaded: BTreeSet<String>,
    stopping: bool,
    restart_now: bool,
    /// Spawns so far (for tests and logs).
    spawns: u64,
    /// The keeper thread has ended (the child is reaped).
    done: bool,
}

/// The wallet child and its keeper thread.
pub struct Supervisor {
    exe: PathBuf,
    args: Vec<String>,
    state: Mutex<State>,
    changed: Condvar,
}

impl Supervisor {
    /// A supervisor for `exe args...` (not started).
    pub fn new(exe: PathBuf, args: Vec<String>) -> Arc<Supervisor> {
        Arc::new(Supervisor {
            exe,
            args,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The child's connection, if it is up.
    pub fn peer(&self) -> Option<Arc<Peer>> {
        self.lock().peer.clone()
    }

    /// Waits up to `timeout` for the child to be up, asking for a restart
    /// now if it is down.
    pub fn wait_up(&self, timeout: Duration) -> Option<Arc<Peer>> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        if st.peer.is_none() {
            st.restart_now = true;
            self.changed.notify_all();
        }
        while st.peer.is_none() && !st.stopping {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        st.peer.clone()
    }

    /// Remembers that wallet `name` is loaded (or not) in the child.
    pub fn set_loaded(&self, name: &str, loaded: bool) {
        let mut st = self.lock();
        if loaded {
            st.loaded.insert(name.to_owned());
        } else {
            st.loaded.remove(name);
        }
    }

    /// Number of times the child was spawned.
    pub fn spawns(&self) -> u64 {
        self.lock().spawns
    }

    /// Keeps the child running until [`stop`](Self::stop). `first_up` is
    /// called once, after the first spawn's handshake (or failure).
    pub fn run(self: &Arc<Self>, hub: &Arc<Hub>, mut first_up: impl FnMut(bool)) {
        let mut backoff = BACKOFF_MIN;
        let mut first = true;
        loop {
            if self.lock().stopping {
                break;
            }
            let started = Instant::now();
            match self.spawn(hub) {
                Ok((mut child, peer)) => {
                    // Its calls are answered from now on: reloading its
                    // wallets makes it read the chain.
                    let server = {
                        let (hub, peer) = (hub.clone(), peer.clone());
                        std::thread::spawn(move || hub.serve(&peer))
                    };
                    self.reload(hub, &peer);
                    if first {
                        first_up(true);
                        first = false;
                    }
                    // Until the connection ends.
                    let _ = server.join();
                    {
                        let mut st = self.lock();
                        st.peer = None;
                        self.changed.notify_all();
                    }
                    reap(&mut child);
                    if !self.lock().stopping {
                        crate::log_line!(
                            "ipc: the wallet process (pid {}) is gone; restarting it",
                            child.id()
                        );
                    }
                }
                Err(e) => {
                    crate::log_line!("ipc: cannot start bitcoin-wallet: {e}");
                    if first {
                        first_up(false);
                        first = false;
                    }
                }
            }
            if started.elapsed() > STABLE {
                backoff = BACKOFF_MIN;
            }
            // Back off, unless a loadwallet asks for the child now.
            let deadline = Instant::now() + backoff;
            let mut st = self.lock();
            while !st.stopping && !st.restart_now {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st = self
                    .changed
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            st.restart_now = false;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        self.lock().done = true;
        self.changed.notify_all();
    }

    fn spawn(&self, hub: &Arc<Hub>) -> Result<(Child, Arc<Peer>), String> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.args);
        let (mut child, conn) =
            spawn_child(&mut cmd, SpawnOptions::default()).map_err(|e| e.to_string())?;
        let label = format!("wallet process pid {}", child.id());
        let peer = match hub.handshake(conn, label, super::hub::Origin::Inherited) {
            Ok(p) => p,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        self.lock().spawns += 1;
        crate::log_line!("ipc: {} connected", peer.label);
        Ok((child, peer))
    }

    /// Gives a new child back its wallets, then makes it available.
    fn reload(&self, hub: &Arc<Hub>, peer: &Arc<Peer>) {
        let loaded: Vec<String> = self.lock().loaded.iter().cloned().collect();
        // Give it back its wallets before anyone else can use it.
        let mut gone = Vec::new();
        for name in loaded {
            let params = serde_json::json!([name]);
            let sync = hub.publisher().sync_point();
            match peer.rpc(None, "loadwallet", &params, sync) {
                Ok(_) => {}
                Err(e) if e.code == i64::from(btc_core::rpc_codes::RPC_WALLET_ALREADY_LOADED) => {}
                Err(e) if e.code == i64::from(btc_core::rpc_codes::RPC_WALLET_NOT_FOUND) => {
                    crate::log_line!("Warning: Skipping -wallet path that doesn't exist: {name}");
                    gone.push(name);
                }
                Err(e) => crate::log_line!("ipc: reloading wallet {name}: {}", e.message),
            }
        }
        peer.refresh_wallets();
        let mut st = self.lock();
        for name in gone {
            st.loaded.remove(&name);
        }
        st.peer = Some(peer.clone());
        self.changed.notify_all();
    }

    /// Stops restarting and ends the child: its connection is shut down (it
    /// exits when the node goes), and it is killed if it lingers.
    pub fn stop(&self) {
        let peer = {
            let mut st = self.lock();
            st.stopping = true;
            self.changed.notify_all();
            st.peer.clone()
        };
        if let Some(p) = peer {
            p.conn.shutdown();
        }
        // The child exits when its connection ends; the keeper reaps it
        // (killing it after two seconds), so nothing is left behind.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut st = self.lock();
        while !st.done {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Waits for a child whose connection ended; kills it if it does not exit
/// within two seconds.
fn reap(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
