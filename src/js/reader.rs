//! Where the browser runtime reads a layer back from: Cache Storage when the model's files are
//! stored there (the Cache tier), else the network with a `Range` request (the Remote tier).
//!
//! Reads are cheap: the cache is opened once, and each stored file's `Blob` is looked up once
//! and kept, so a layer is one `blob.slice` read. A file the cache no longer has (the user
//! cleared it, the browser evicted it, webvram deleted it) is read from the network and
//! reported as a miss, which moves its layers from `cache` to `remote` in the books.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;

use web_sys::Blob;

use crate::exec::LocalFuture;
use crate::fetch::{FetchSource, ModelCache, SourceError, read_blob_range, read_range};
use crate::runtime::{RangeReader, Staged};

/// Cache first, then the network; no abort signal (a re-read serves the runtime, not one call).
#[derive(Default)]
pub(crate) struct BrowserReader {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    /// The opened cache (`None` until first needed, or where Cache Storage is unavailable).
    cache: Option<ModelCache>,
    /// Blobs of stored files, by URL (a file not stored is looked up again on each read: a
    /// lookup is cheap next to the network read it precedes).
    blobs: BTreeMap<String, Blob>,
    /// [`ModelCache::deletions`] when `blobs` was last valid.
    deletions: u64,
    /// Files that were in the cache once and had to come from the network since.
    misses: Vec<String>,
}

impl BrowserReader {
    /// The kept blob of the stored file at `url`, looked up on first use.
    async fn blob(&self, url: &str) -> Option<Blob> {
        {
            let mut state = self.state.borrow_mut();
            if state.deletions != ModelCache::deletions() {
                state.blobs.clear();
                state.deletions = ModelCache::deletions();
            }
            if let Some(known) = state.blobs.get(url) {
                return Some(known.clone());
            }
        }
        let cache = self.state.borrow().cache.clone();
        let cache = match cache {
            Some(cache) => cache,
            None => {
                let opened = ModelCache::open().await?;
                self.state.borrow_mut().cache = Some(opened.clone());
                opened
            }
        };
        let blob = cache.blob(url).await?;
        (self.state.borrow_mut().blobs).insert(url.to_owned(), blob.clone());
        Some(blob)
    }

    /// Forgets the blob of `url` (its read failed) and notes the miss.
    fn missed(&self, url: &str) {
        let mut state = self.state.borrow_mut();
        state.blobs.remove(url);
        if !state.misses.iter().any(|known| known == url) {
            state.misses.push(url.to_owned());
        }
    }
}

impl RangeReader for BrowserReader {
    fn read<'a>(
        &'a self,
        url: &'a str,
        range: Range<u64>,
    ) -> LocalFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(async move {
            let staged = self.read_staged(url, range).await?;
            let mut out = vec![0u8; staged.size()];
            staged.copy_to(0, &mut out);
            Ok(out)
        })
    }

    fn read_staged<'a>(
        &'a self,
        url: &'a str,
        range: Range<u64>,
    ) -> LocalFuture<'a, Result<Box<dyn Staged>, SourceError>> {
        Box::pin(async move {
            if let Some(blob) = self.blob(url).await
                && let Some(bytes) = read_blob_range(&blob, range.clone()).await
            {
                return Ok(Box::new(StagedArray(bytes)) as Box<dyn Staged>);
            }
            self.missed(url);
            let bytes = read_range(&FetchSource::new(None), url, range).await?;
            Ok(Box::new(bytes) as Box<dyn Staged>)
        })
    }

    fn take_cache_misses(&self) -> Vec<String> {
        std::mem::take(&mut self.state.borrow_mut().misses)
    }
}

/// A read from Cache Storage, still in its `ArrayBuffer`.
struct StagedArray(js_sys::Uint8Array);

impl Staged for StagedArray {
    fn size(&self) -> usize {
        self.0.length() as usize
    }

    fn copy_to(&self, at: usize, out: &mut [u8]) {
        let end = at + out.len();
        self.0.subarray(at as u32, end as u32).copy_to(out);
    }
}
