//! Native sources: local files and a minimal HTTP/1.1 client, so the loader is tested without a browser.

mod file;
mod http;
mod http_body;

pub use file::{FileBody, FileSource};
pub use http::HttpSource;
pub use http_body::HttpBody;
