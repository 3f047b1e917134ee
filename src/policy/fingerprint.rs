//! A stable key for one adapter, under which the browser layer stores what webvram learned.

use crate::device::AdapterProfile;

/// Version prefix: bump it when the canonical string changes, so old entries stop matching
/// instead of matching the wrong adapter.
pub const FINGERPRINT_PREFIX: &str = "webvram-v1-";

/// The limits that enter the fingerprint. Only these two, because they describe the memory; the
/// full limit table changes with browser versions and would throw learned budgets away.
const FINGERPRINT_LIMITS: &[&str] = &["maxBufferSize", "maxStorageBufferBindingSize"];

/// A short, stable string for the adapter, usable as a `localStorage` key.
///
/// Built from vendor, architecture, description, `isFallbackAdapter` and the memory limits,
/// hashed with 64-bit FNV-1a (stable across builds and platforms, unlike `std`'s hasher).
/// Two machines with the same GPU model and browser share a key, which is what a learned budget
/// should do: it describes the GPU, not the visitor.
pub fn fingerprint(profile: &AdapterProfile) -> String {
    format!(
        "{FINGERPRINT_PREFIX}{:016x}",
        fnv1a(canonical(profile).as_bytes())
    )
}

/// The text that is hashed: fields joined with `|`, limits as `name=value`.
fn canonical(profile: &AdapterProfile) -> String {
    if !profile.available {
        return "unavailable".into();
    }
    let mut parts = vec![
        profile.vendor.to_lowercase(),
        profile.architecture.to_lowercase(),
        profile.description.clone(),
        profile.is_fallback_adapter.to_string(),
    ];
    for name in FINGERPRINT_LIMITS {
        let value = profile
            .limit(name)
            .map_or_else(|| "-".into(), |v| v.to_string());
        parts.push(format!("{name}={value}"));
    }
    parts.join("|")
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nvidia(max_buffer: u64) -> AdapterProfile {
        let mut profile = AdapterProfile {
            available: true,
            vendor: "nvidia".into(),
            architecture: "ampere".into(),
            ..AdapterProfile::default()
        };
        profile.limits.insert("maxBufferSize".into(), max_buffer);
        profile
    }

    #[test]
    fn same_adapter_same_key_and_limits_change_it() {
        assert_eq!(fingerprint(&nvidia(1 << 30)), fingerprint(&nvidia(1 << 30)));
        assert_ne!(fingerprint(&nvidia(1 << 30)), fingerprint(&nvidia(1 << 31)));
        assert!(fingerprint(&nvidia(1)).starts_with(FINGERPRINT_PREFIX));
    }

    #[test]
    fn unrelated_limits_and_ram_do_not_change_it() {
        let mut other = nvidia(1 << 30);
        other.limits.insert("maxComputeWorkgroupSizeX".into(), 1024);
        other.device_memory_gib = Some(8.0);
        assert_eq!(fingerprint(&other), fingerprint(&nvidia(1 << 30)));
    }

    #[test]
    fn fnv1a_matches_the_reference_vector() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
