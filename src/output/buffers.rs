//! Buffers reused across threads.

use std::sync::{Arc, Mutex};

/// Buffers passed around between threads (rows rendered by a worker, written by the main
/// thread; spool segments filled by one thread, written by another) and back for reuse:
/// memory once touched is filled again instead of fresh pages faulting in.
#[derive(Clone, Default)]
pub struct BufferPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufferPool {
    /// An empty buffer, reused if one is back.
    pub fn get(&self) -> Vec<u8> {
        self.0.lock().ok().and_then(|mut spare| spare.pop()).unwrap_or_default()
    }

    /// Gives a buffer back; kept while the spare ones hold at most [`POOL_BYTES`].
    pub fn put(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if let Ok(mut spare) = self.0.lock() {
            let kept: usize = spare.iter().map(Vec::capacity).sum();
            if kept + buffer.capacity() <= POOL_BYTES {
                spare.push(buffer);
            }
        }
    }
}

/// The most capacity a [`BufferPool`] keeps in spare buffers: a few pages' rows, so that pages
/// of a few MB reuse their memory while the rows of very large ones are freed.
const POOL_BYTES: usize = 16 << 20;
