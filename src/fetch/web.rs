//! The browser's [`ByteSource`]: `fetch` read through a `ReadableStreamDefaultReader`, copying
//! only as many bytes into wasm memory as the loader asks for.

use std::ops::Range;
use std::time::Duration;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, ReadableStreamDefaultReader, Request, RequestInit, Response};

use super::{Body, ByteSource, CancelToken, ResponseMeta, SleepFn, SourceError};

/// `fetch`, in a window or a worker, optionally tied to an `AbortSignal`.
#[derive(Clone, Debug, Default)]
pub struct FetchSource {
    signal: Option<AbortSignal>,
}

impl FetchSource {
    /// A source whose requests end when `signal` aborts (`None`: never).
    pub fn new(signal: Option<AbortSignal>) -> Self {
        Self { signal }
    }
}

impl ByteSource for FetchSource {
    type Body = FetchBody;

    async fn open(&self, url: &str, range: Option<Range<u64>>) -> Result<FetchBody, SourceError> {
        let response = self.response(url, range).await?;
        FetchBody::new(&response)
    }
}

impl FetchSource {
    /// `fetch(url)` with a `Range` header when `range` is given; resolves to the `Response`.
    pub(crate) async fn response(
        &self,
        url: &str,
        range: Option<Range<u64>>,
    ) -> Result<Response, SourceError> {
        let request = build_request(url, range, self.signal.as_ref())?;
        let global = js_sys::global();
        let fetch: Function = Reflect::get(&global, &"fetch".into())
            .and_then(JsCast::dyn_into)
            .map_err(|_| SourceError::Refused("this context has no fetch()".into()))?;
        let promise: Promise = fetch
            .call1(&global, &request)
            .and_then(JsCast::dyn_into)
            .map_err(|e| SourceError::Refused(message(&e)))?;
        JsFuture::from(promise)
            .await
            .map_err(rejection)?
            .dyn_into()
            .map_err(|_| {
                SourceError::Network("fetch() resolved to something other than a Response".into())
            })
    }
}

fn build_request(
    url: &str,
    range: Option<Range<u64>>,
    signal: Option<&AbortSignal>,
) -> Result<Request, SourceError> {
    let refused = |e: JsValue| SourceError::Refused(message(&e));
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_signal(signal);
    let headers = Headers::new().map_err(refused)?;
    if let Some(range) = range {
        let value = format!("bytes={}-{}", range.start, range.end.saturating_sub(1));
        headers.set("Range", &value).map_err(refused)?;
    }
    init.set_headers(&headers);
    Request::new_with_str_and_init(url, &init).map_err(refused)
}

fn meta_of(response: &Response) -> ResponseMeta {
    let headers = response.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    // A decoded body is longer than the Content-Length, which counts encoded bytes.
    let encoded = header("content-encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
    let content_length = match encoded {
        true => None,
        false => header("content-length").and_then(|v| v.trim().parse().ok()),
    };
    ResponseMeta {
        status: response.status(),
        content_length,
        content_range: header("content-range"),
        etag: header("etag"),
    }
}

/// A response body; dropping it cancels the stream so an abandoned download stops.
pub struct FetchBody {
    meta: ResponseMeta,
    reader: Option<ReadableStreamDefaultReader>,
    current: Option<Uint8Array>,
    offset: u32,
}

impl FetchBody {
    /// A body reading `response`'s stream, described by its own status and headers.
    pub(crate) fn new(response: &Response) -> Result<Self, SourceError> {
        Self::from_stream(meta_of(response), response.body())
    }

    /// A body reading `stream` (none: empty), described by `meta`; the cache serves blobs this way.
    pub(crate) fn from_stream(
        meta: ResponseMeta,
        stream: Option<web_sys::ReadableStream>,
    ) -> Result<Self, SourceError> {
        let reader = match stream {
            Some(stream) => Some(
                stream
                    .get_reader()
                    .dyn_into()
                    .map_err(|e| SourceError::Network(message(&e)))?,
            ),
            None => None,
        };
        Ok(Self {
            meta,
            reader,
            current: None,
            offset: 0,
        })
    }
}

impl Body for FetchBody {
    fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        loop {
            if let Some(array) = &self.current {
                let left = array.length() - self.offset;
                if left > 0 {
                    let n = left.min(u32::try_from(buf.len()).unwrap_or(u32::MAX));
                    array
                        .subarray(self.offset, self.offset + n)
                        .copy_to(&mut buf[..n as usize]);
                    self.offset += n;
                    return Ok(n as usize);
                }
            }
            let Some(reader) = &self.reader else {
                return Ok(0);
            };
            let chunk = JsFuture::from(reader.read()).await.map_err(rejection)?;
            if Reflect::get(&chunk, &"done".into())
                .ok()
                .and_then(|d| d.as_bool())
                == Some(true)
            {
                self.reader = None;
                return Ok(0);
            }
            let value = Reflect::get(&chunk, &"value".into()).unwrap_or(JsValue::UNDEFINED);
            self.current = Some(
                value
                    .dyn_into()
                    .map_err(|_| SourceError::Network("body chunk is not bytes".into()))?,
            );
            self.offset = 0;
        }
    }
}

impl Drop for FetchBody {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            // On a stream the network already broke, `cancel()` rejects with that error: observe
            // it, or the page reports an unhandled rejection ("TypeError: network error").
            let cancelled = JsFuture::from(reader.cancel());
            wasm_bindgen_futures::spawn_local(async move {
                let _ = cancelled.await;
            });
        }
    }
}

/// A fetch or stream rejection: `AbortError` means the caller aborted, anything else is the network.
pub(crate) fn rejection(error: JsValue) -> SourceError {
    let name = Reflect::get(&error, &"name".into())
        .ok()
        .and_then(|n| n.as_string());
    match name.as_deref() {
        Some("AbortError") => SourceError::Aborted,
        _ => SourceError::Network(message(&error)),
    }
}

pub(crate) fn message(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

/// Retry backoff through `setTimeout`, so a waiting load does not block the page.
pub fn browser_sleep() -> SleepFn {
    std::rc::Rc::new(|delay: Duration| {
        let promise = Promise::new(&mut |resolve, _| {
            let global = js_sys::global();
            let set_timeout: Option<Function> = Reflect::get(&global, &"setTimeout".into())
                .ok()
                .and_then(|f| f.dyn_into().ok());
            if let Some(set_timeout) = set_timeout {
                let millis = JsValue::from_f64(delay.as_millis() as f64);
                let _ = set_timeout.call2(&global, &resolve, &millis);
            } else {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        Box::pin(async move {
            let _ = JsFuture::from(promise).await;
        })
    })
}

/// A cancel token that fires when `signal` aborts (already aborted: fires at once).
pub fn cancel_on_abort(signal: &AbortSignal) -> CancelToken {
    let token = CancelToken::new();
    if signal.aborted() {
        token.cancel();
        return token;
    }
    let fire = token.clone();
    let listener = wasm_bindgen::closure::Closure::once_into_js(move || fire.cancel());
    let _ = signal.add_event_listener_with_callback("abort", listener.unchecked_ref());
    token
}
