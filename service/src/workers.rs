//! Answering calls on threads of their own, a bounded number at once: a
//! slow call (a rescan) never holds up the quick ones behind it, and a
//! flood of calls never makes more than `max` threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs jobs on threads of their own while fewer than `max` run; beyond
/// that, on the caller's thread (which then reads no more calls until it
/// is done: the backpressure).
pub struct BoundedWorkers {
    max: usize,
    in_flight: Arc<AtomicUsize>,
}

impl BoundedWorkers {
    pub fn new(max: usize) -> BoundedWorkers {
        BoundedWorkers {
            max,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `job` on a new thread, or here when `max` already run.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        if self.in_flight.load(Ordering::Relaxed) >= self.max {
            job();
            return;
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let n = self.in_flight.clone();
        std::thread::spawn(move || {
            job();
            n.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn jobs_beyond_the_bound_run_on_the_callers_thread() {
        let w = BoundedWorkers::new(2);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let (done_tx, done_rx) = mpsc::channel();
        for _ in 0..2 {
            let (r, d) = (release_rx.clone(), done_tx.clone());
            w.run(move || {
                let _ = r.lock().unwrap().recv();
                d.send(std::thread::current().id()).unwrap();
            });
        }
        // Both workers wait: the third job runs here.
        let here = std::thread::current().id();
        let d = done_tx.clone();
        w.run(move || d.send(std::thread::current().id()).unwrap());
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(5)).unwrap(), here);
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        for _ in 0..2 {
            assert_ne!(done_rx.recv_timeout(Duration::from_secs(5)).unwrap(), here);
        }
    }
}
