//! ComfyUI's per-model arithmetic: the low-VRAM weight budget, and which layers a partial load or
//! a partial unload picks.

use crate::policy::units::{MIB, scale};

/// ComfyUI's floor for the low-VRAM weight budget: `max(128 MiB, …)`. webvram additionally caps
/// the result at the free budget less the reserve, so the floor can no longer eat the reserve.
pub const LOWVRAM_MIN_WEIGHTS: u64 = 128 * MIB;

/// ComfyUI's low-VRAM weight budget for one model, as total GPU bytes the model may hold:
///
/// `max(128 MiB, cur − minimum_required, min(cur × ratio, cur − minimum_inference))`
///
/// where `cur` is the free budget plus the bytes the model already has on the GPU. ComfyUI then
/// subtracts the loaded bytes to get the extra bytes to load; callers compare against the loaded
/// bytes instead. Negative differences count as 0, which `max` with the floor makes equivalent.
pub fn lowvram_weight_budget(
    cur: u64,
    minimum_required: u64,
    minimum_inference: u64,
    ratio_permille: u64,
) -> u64 {
    let after_minimum = cur.saturating_sub(minimum_required);
    let ratio_share = scale(cur, ratio_permille, 1000).min(cur.saturating_sub(minimum_inference));
    LOWVRAM_MIN_WEIGHTS.max(after_minimum).max(ratio_share)
}

/// The layers a partial load adds, ComfyUI's way: largest first (ties in order of use), each
/// added while `counter + bytes < target` — strictly less, and without stopping at the first
/// layer that does not fit, so smaller layers further down may still fit. `counter` starts at the
/// bytes the model already has on the GPU.
pub fn pick_largest_first(candidates: &[(usize, u64)], loaded: u64, target: u64) -> Vec<usize> {
    let mut sorted = candidates.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut counter = loaded;
    let mut picked = Vec::new();
    for (layer, bytes) in sorted {
        if counter.saturating_add(bytes) < target {
            counter += bytes;
            picked.push(layer);
        }
    }
    picked
}

/// The layers a partial unload drops, ComfyUI's `partially_unload`: smallest first (ties in order
/// of use), continuing while what was freed does not exceed `to_free`. It frees strictly more
/// than asked, or everything.
pub fn pick_smallest_first(on_gpu: &[(usize, u64)], to_free: u64) -> (Vec<usize>, u64) {
    let mut sorted = on_gpu.to_vec();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut freed = 0_u64;
    let mut picked = Vec::new();
    for (layer, bytes) in sorted {
        if to_free < freed {
            break;
        }
        freed += bytes;
        picked.push(layer);
    }
    (picked, freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_budget_takes_the_largest_of_three_terms() {
        // cur 4096, minimum 1400, inference 912, ratio 0.4 → max(128, 2696, min(1638.4, 3184)).
        assert_eq!(
            lowvram_weight_budget(4096 * MIB, 1400 * MIB, 912 * MIB, 400),
            2696 * MIB
        );
        // cur 2048, minimum 1600, inference 656 → the ratio term 819.2 MiB wins.
        assert_eq!(
            lowvram_weight_budget(2048 * MIB, 1600 * MIB, 656 * MIB, 400),
            858_993_459
        );
        // The same on NVIDIA (ratio 0): cur − minimum = 448 MiB.
        assert_eq!(
            lowvram_weight_budget(2048 * MIB, 1600 * MIB, 656 * MIB, 0),
            448 * MIB
        );
        // Nothing left: the 128 MiB floor.
        assert_eq!(
            lowvram_weight_budget(100 * MIB, 1600 * MIB, 656 * MIB, 0),
            LOWVRAM_MIN_WEIGHTS
        );
    }

    #[test]
    fn largest_first_skips_what_does_not_fit_and_keeps_going() {
        let layers = [(0, 1000), (1, 800), (2, 600), (3, 400), (4, 300), (5, 200)];
        assert_eq!(pick_largest_first(&layers, 0, 2696), vec![0, 1, 2, 5]);
        assert_eq!(pick_largest_first(&layers, 0, 1000), vec![1]);
    }

    #[test]
    fn smallest_first_frees_strictly_more_than_asked() {
        let layers = [(0, 1000), (1, 800), (2, 600), (5, 200)];
        assert_eq!(pick_smallest_first(&layers, 406), (vec![5, 2], 800));
        assert_eq!(pick_smallest_first(&layers, 200), (vec![5, 2], 800));
        assert_eq!(
            pick_smallest_first(&layers, 10_000),
            (vec![5, 2, 1, 0], 2600)
        );
    }
}
