//! Byte units and the one formatter every reason string uses, so numbers read the same everywhere.

/// One mebibyte. Budgets, reserves and caps are written in MiB/GiB as ComfyUI writes them.
pub const MIB: u64 = 1024 * 1024;

/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;

/// Formats a byte count for people: `"1.50 GiB"`, `"400 MiB"`, `"512 B"`.
///
/// Reasons and error messages carry both this form and the exact byte count where it matters,
/// so a reader can check the arithmetic.
pub fn format_bytes(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.2} GiB", bytes as f64 / GIB as f64)
    } else if bytes >= MIB {
        let mib = bytes as f64 / MIB as f64;
        if bytes.is_multiple_of(MIB) {
            format!("{mib:.0} MiB")
        } else {
            format!("{mib:.1} MiB")
        }
    } else {
        format!("{bytes} B")
    }
}

/// `value × numerator / denominator` without overflow, rounded down.
///
/// Used for every ratio in the policy (the 1.1 headroom, the 0.4 weight ratio, RAM fractions) so
/// the arithmetic is integer and exact numbers can be written by hand in tests.
pub fn scale(value: u64, numerator: u64, denominator: u64) -> u64 {
    if denominator == 0 {
        return u64::MAX;
    }
    let scaled = u128::from(value) * u128::from(numerator) / u128::from(denominator);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_each_unit() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(400 * MIB), "400 MiB");
        assert_eq!(format_bytes(MIB + MIB / 2), "1.5 MiB");
        assert_eq!(format_bytes(3 * GIB / 2), "1.50 GiB");
    }

    #[test]
    fn scale_is_exact_and_saturates() {
        assert_eq!(scale(10, 11, 10), 11);
        assert_eq!(scale(2048 * MIB, 400, 1000), 858_993_459);
        assert_eq!(scale(u64::MAX, 2, 1), u64::MAX);
        assert_eq!(scale(1, 1, 0), u64::MAX);
    }
}
