//! Resolving an index's shard names against the index's own URL or path.
//!
//! An index (`model.safetensors.index.json`) names its shards, and a loader fetches them. A hostile or broken
//! index could point a page at another site (`https://evil/x`, `//evil/x`), climb out of the model folder
//! (`../../secrets`), or hide those tricks behind backslashes or percent-encoding. By default only a plain
//! file name — or a relative path of plain segments — beside the index is accepted; [`ShardPolicy`] can relax
//! that for checkpoints that really do live elsewhere. This is plain string work, identical on wasm32.

/// How strictly shard names are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardPolicy {
    /// Accept absolute URLs, rooted paths, protocol-relative URLs and `..` segments. Backslashes, control
    /// characters, empty names and encoded separators are refused even then.
    pub allow_external: bool,
}

/// Why a shard name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShardNameProblem {
    /// The name is the empty string.
    #[error("the name is empty")]
    Empty,
    /// The name contains `\`, which some servers and file systems treat as a separator.
    #[error("it contains a backslash")]
    Backslash,
    /// The name contains an ASCII control character.
    #[error("it contains a control character")]
    ControlCharacter,
    /// The name is an absolute URL (it has a `scheme:`).
    #[error("it is an absolute URL; pass allow_external to load shards from elsewhere")]
    AbsoluteUrl,
    /// The name is protocol-relative (`//host/…`), i.e. another origin.
    #[error("it names another origin; pass allow_external to load shards from elsewhere")]
    OtherOrigin,
    /// The name starts with `/`, escaping the index's folder.
    #[error("it is a rooted path; pass allow_external to load shards from elsewhere")]
    RootedPath,
    /// The name has a `.` or `..` segment.
    #[error("it has a `.` or `..` segment; pass allow_external to allow `..`")]
    DotSegment,
    /// The name has an empty segment (`a//b`, or a trailing `/`).
    #[error("it has an empty path segment")]
    EmptySegment,
    /// The name has `%2e`, `%2f` or `%5c`, which servers may decode into `.`, `/` or `\`.
    #[error("it percent-encodes a dot or a separator")]
    EncodedSeparator,
    /// The name has a `?` or `#`.
    #[error("it has a query or fragment")]
    QueryOrFragment,
}

/// Resolves `shard` against `index_location` (a URL such as `https://h/m/model.safetensors.index.json?x=1`,
/// a relative URL, or a native path) and returns the shard's URL or path.
///
/// The shard goes in the index's folder: everything up to the last `/` of the location, ignoring any query
/// or fragment. With [`ShardPolicy::allow_external`], absolute URLs are returned as they are, rooted paths
/// and protocol-relative names keep the index's scheme and host, and `.`/`..` segments are folded.
///
/// # Errors
/// The [`ShardNameProblem`] found first, in the order the variants are listed.
pub fn resolve_shard(
    index_location: &str,
    shard: &str,
    policy: ShardPolicy,
) -> Result<String, ShardNameProblem> {
    check_always(shard)?;
    let external = policy.allow_external;
    let refuse = |problem| if external { Ok(()) } else { Err(problem) };
    if has_scheme(shard) {
        refuse(ShardNameProblem::AbsoluteUrl)?;
        return Ok(shard.to_owned());
    }
    if shard.starts_with("//") {
        refuse(ShardNameProblem::OtherOrigin)?;
        return Ok(format!("{}{shard}", scheme_prefix(index_location)));
    }
    let rooted = shard.starts_with('/');
    if rooted {
        refuse(ShardNameProblem::RootedPath)?;
    }
    let body = shard.strip_prefix('/').unwrap_or(shard);
    check_segments(body, external)?;
    let (origin, base_path) = split_location(index_location);
    let folder = match base_path.rfind(['/', '\\']) {
        _ if rooted => "/",
        Some(i) => &base_path[..=i],
        None if origin.contains("//") => "/",
        None => "",
    };
    if !external {
        // A strict name is plain segments: nothing to fold, and the folder is kept as written (even with
        // Windows separators).
        return Ok(format!("{origin}{folder}{shard}"));
    }
    Ok(format!("{origin}{}", join_folded(folder, body)))
}

/// Checks made whatever the policy.
fn check_always(shard: &str) -> Result<(), ShardNameProblem> {
    if shard.is_empty() {
        return Err(ShardNameProblem::Empty);
    }
    if shard.contains('\\') {
        return Err(ShardNameProblem::Backslash);
    }
    if shard.chars().any(char::is_control) {
        return Err(ShardNameProblem::ControlCharacter);
    }
    let lower = shard.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c"].iter().any(|enc| lower.contains(enc)) {
        return Err(ShardNameProblem::EncodedSeparator);
    }
    if shard.contains(['?', '#']) {
        return Err(ShardNameProblem::QueryOrFragment);
    }
    Ok(())
}

/// Whether `s` starts with an RFC 3986 scheme followed by `:` (a `:` before any `/`).
fn has_scheme(s: &str) -> bool {
    s.find([':', '/']).is_some_and(|i| s.as_bytes()[i] == b':')
}

/// `"https:"` for `https://host/…`, empty for locations without a scheme.
fn scheme_prefix(location: &str) -> &str {
    match (has_scheme(location), location.find(':')) {
        (true, Some(i)) => &location[..=i],
        _ => "",
    }
}

/// Splits a location into its origin (`scheme://authority`, possibly empty) and its path, dropping any
/// query or fragment.
fn split_location(location: &str) -> (&str, &str) {
    let location = match location.find(['?', '#']) {
        Some(i) => &location[..i],
        None => location,
    };
    // A one-letter "scheme" is a Windows drive letter (`C:\models\…`), part of the path.
    let scheme_end = match location.find(':') {
        Some(i) if i > 1 && has_scheme(location) => i + 1,
        _ => 0,
    };
    let rest = &location[scheme_end..];
    if let Some(authority) = rest.strip_prefix("//") {
        let path_start = authority
            .find('/')
            .map_or(location.len(), |i| scheme_end + 2 + i);
        return (&location[..path_start], &location[path_start..]);
    }
    (&location[..scheme_end], rest)
}

/// Refuses empty segments always, and `.`/`..` segments unless `allow_dots`.
fn check_segments(body: &str, allow_dots: bool) -> Result<(), ShardNameProblem> {
    for segment in body.split('/') {
        match segment {
            "" => return Err(ShardNameProblem::EmptySegment),
            "." | ".." if !allow_dots => return Err(ShardNameProblem::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// Appends `body`'s segments to `folder` (which is empty or ends with `/`), folding `.` and `..`. A `..` never
/// climbs above a rooted folder's root (as browsers do); above a relative folder it is kept.
fn join_folded(folder: &str, body: &str) -> String {
    let mut segments: Vec<&str> = folder.split('/').collect();
    segments.pop();
    let floor = usize::from(folder.starts_with('/'));
    for segment in body.split('/') {
        match segment {
            "." => {}
            ".." if segments.len() > floor && segments.last() != Some(&"..") => {
                segments.pop();
            }
            ".." if floor == 1 => {}
            other => segments.push(other),
        }
    }
    segments.join("/")
}
