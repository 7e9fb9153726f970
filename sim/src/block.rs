//! Runs a store call to completion without letting any other task of the simulation's one
//! thread run meanwhile: the backends do their I/O on threads of their own, and waiting for
//! them by parking this thread keeps the interleaving of tasks a function of the seed alone.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between polls, until it is ready. The future runs
/// outside tokio's cooperative budget: a budget spent by the calling task would otherwise
/// make it return `Pending` forever.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unparker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(tokio::task::unconstrained(future));
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

/// The backends' own runtime. Their calls run there, on its threads and its blocking pool, and
/// the simulation's thread waits for each one: a blocking task in flight on the simulation's
/// runtime would hold back its paused clock for a time that depends on the machine.
#[derive(Clone)]
pub struct Io {
    handle: tokio::runtime::Handle,
}

impl Io {
    pub fn new(runtime: &tokio::runtime::Runtime) -> Io {
        Io {
            handle: runtime.handle().clone(),
        }
    }

    /// Runs `work` on the I/O runtime and waits for it, letting nothing else run meanwhile.
    pub fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, String> {
        block_on(self.handle.spawn(work)).map_err(|e| format!("an I/O task failed: {e}"))
    }
}
