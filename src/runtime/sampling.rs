//! Choosing the next token from logits: repetition penalty, temperature, top-k, top-p, as
//! transformers' logits processors apply them, with a seeded generator so a seed gives the same
//! tokens on every machine.

/// How tokens are chosen. `temperature: 0` is greedy (argmax); the filters apply otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingOptions {
    /// Divides the logits; 0 picks the most likely token.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities sum to `top_p` (1: all).
    pub top_p: f32,
    /// > 1 makes tokens already in the prompt or output less likely (CTRL's rule, as HF).
    pub repetition_penalty: f32,
    /// The generator's seed.
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

/// A sampler for one generation.
#[derive(Clone, Debug)]
pub struct Sampler {
    options: SamplingOptions,
    state: u64,
}

impl Sampler {
    /// A sampler seeded with `options.seed`.
    pub fn new(options: SamplingOptions) -> Self {
        let state = options.seed;
        Self { options, state }
    }

    /// The next token for `logits` (modified in place), given the tokens so far (`history`, for
    /// the repetition penalty) and ids that may never be chosen (`suppress`).
    pub fn next(&mut self, logits: &mut [f32], history: &[u32], suppress: &[u32]) -> u32 {
        let o = &self.options;
        if o.repetition_penalty != 1.0 {
            let mut seen = history.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for &id in &seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l > 0.0 {
                        *l / o.repetition_penalty
                    } else {
                        *l * o.repetition_penalty
                    };
                }
            }
        }
        for &id in suppress {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if o.temperature <= 0.0 {
            return argmax(logits);
        }
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]);
        let keep = match o.top_k {
            0 => order.len(),
            k => k.min(order.len()),
        };
        if keep < order.len() {
            order.select_nth_unstable_by(keep - 1, by_logit);
            order.truncate(keep);
        }
        order.sort_unstable_by(by_logit);
        let top = logits[order[0] as usize];
        let mut weights: Vec<f64> = (order.iter())
            .map(|&id| (((logits[id as usize] - top) / o.temperature) as f64).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        if o.top_p < 1.0 {
            // The smallest prefix whose probability reaches top_p (at least one token).
            let mut sum = 0.0;
            let cut = (weights.iter())
                .position(|w| {
                    sum += w / total;
                    sum >= o.top_p as f64
                })
                .map_or(weights.len(), |i| i + 1);
            weights.truncate(cut);
        }
        let total: f64 = weights.iter().sum();
        let mut target = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if target < *w {
                return order[i];
            }
            target -= w;
        }
        order[weights.len() - 1]
    }

    /// A uniform number in [0, 1) from SplitMix64: tiny, seedable, and the same everywhere.
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The index of the largest logit (the first of equals).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(temperature: f32, top_k: usize, top_p: f32, seed: u64) -> Sampler {
        Sampler::new(SamplingOptions {
            temperature,
            top_k,
            top_p,
            repetition_penalty: 1.0,
            seed,
        })
    }

    #[test]
    fn greedy_takes_the_argmax_and_skips_suppressed_ids() {
        let mut s = sampler(0.0, 0, 1.0, 0);
        assert_eq!(s.next(&mut [0.1, 3.0, 2.0], &[], &[]), 1);
        assert_eq!(s.next(&mut [0.1, 3.0, 2.0], &[], &[1]), 2);
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_logits() {
        let mut s = Sampler::new(SamplingOptions {
            repetition_penalty: 2.0,
            ..SamplingOptions::default()
        });
        let mut logits = [4.0, 3.0, -1.0];
        assert_eq!(s.next(&mut logits, &[0, 0, 2], &[]), 1);
        assert_eq!(logits, [2.0, 3.0, -2.0]);
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_keeps_the_nucleus() {
        for seed in 0..50 {
            assert_eq!(
                sampler(1.0, 1, 1.0, seed).next(&mut [0.0, 1.0, 0.5], &[], &[]),
                1
            );
            // p(1) ≈ 0.84 ≥ 0.8: the nucleus is token 1 alone.
            assert_eq!(
                sampler(1.0, 0, 0.8, seed).next(&mut [0.0, 2.5, 0.0], &[], &[]),
                1
            );
        }
    }

    #[test]
    fn sampling_follows_the_distribution_and_the_seed() {
        let logits = [0.0f32, (3.0f32).ln()];
        let mut s = sampler(1.0, 0, 1.0, 7);
        let ones = (0..4000)
            .filter(|_| s.next(&mut logits.clone(), &[], &[]) == 1)
            .count();
        // p(1) = 0.75: 3000 ± 5σ (σ ≈ 27).
        assert!((2860..3140).contains(&ones), "{ones}");
        let run = |seed| {
            let mut s = sampler(0.8, 0, 1.0, seed);
            (0..32)
                .map(|_| s.next(&mut [0.0, 0.1, 0.2, 0.3], &[], &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
