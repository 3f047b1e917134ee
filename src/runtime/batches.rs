//! Splitting one `embed` call into batches: texts sorted longest first (as sentence-transformers
//! sorts them, so a batch pads little), each batch as many texts as its length allows.

/// The most texts in one batch: sentence-transformers' default `batch_size`.
pub const MAX_BATCH_TEXTS: usize = 32;

/// Groups the indices of texts with `lengths` (tokens each) into batches, longest texts first
/// (ties in input order). A batch starts at its longest text, whose length `limit` turns into
/// the most texts the batch may hold (at least one is taken whatever it says). Every index
/// appears exactly once.
pub fn plan_batches(lengths: &[usize], mut limit: impl FnMut(usize) -> usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches = Vec::new();
    let mut rest = order.as_slice();
    while let Some(&first) = rest.first() {
        let take = limit(lengths[first]).clamp(1, rest.len());
        let (batch, after) = rest.split_at(take);
        batches.push(batch.to_vec());
        rest = after;
    }
    batches
}

// proptest is a native dev-dependency only.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn longest_first_and_sized_by_the_longest() {
        let lengths = [5, 300, 12, 300, 7];
        let batches = plan_batches(&lengths, |seq| if seq > 100 { 1 } else { 2 });
        assert_eq!(batches, vec![vec![1], vec![3], vec![2, 4], vec![0]]);
        assert!(plan_batches(&[], |_| 8).is_empty());
        assert_eq!(plan_batches(&[3, 3], |_| 0), vec![vec![0], vec![1]]);
    }

    proptest! {
        #[test]
        fn every_text_once_and_no_batch_over_its_limit(
            lengths in proptest::collection::vec(1usize..300, 0..200),
            per in 1usize..40,
        ) {
            let limit = |seq: usize| (per * 64 / seq).max(1);
            let batches = plan_batches(&lengths, limit);
            let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
            for batch in &batches {
                let longest = batch.iter().map(|&i| lengths[i]).max().unwrap();
                prop_assert_eq!(lengths[batch[0]], longest);
                prop_assert!(batch.len() <= limit(longest));
            }
        }
    }
}
