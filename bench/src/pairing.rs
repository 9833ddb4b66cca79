//! Paired measurement: a function's blocks of deliveries, each measured
//! between two blocks of a reference function (the naive handler) right
//! before and after it, so that a phase of the shared machine's load falls
//! on both sides of a ratio.

/// One block of a paired run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A block of the reference.
    Reference,
    /// A block of subject `i`.
    Subject(usize),
}

/// The order of a paired run's blocks. Subject `i` has `blocks[i]` blocks;
/// the subjects take turns, one block each while it has blocks left, each
/// turn starting at subject `rotate` (mod their number) so that no subject
/// always follows the same one; a reference block comes first, last and
/// between every two: each subject block has one on each side, and each
/// reference block is shared by the two blocks beside it.
pub fn schedule(blocks: &[usize], rotate: usize) -> Vec<Slot> {
    let mut left = blocks.to_vec();
    let mut order = vec![Slot::Reference];
    while left.iter().any(|&b| b > 0) {
        for k in 0..left.len() {
            let i = (rotate + k) % left.len();
            if left[i] > 0 {
                left[i] -= 1;
                order.extend([Slot::Subject(i), Slot::Reference]);
            }
        }
    }
    order
}

/// `events` cut into blocks of `block` (the last one what is left).
pub fn blocks_of(events: usize, block: usize) -> Vec<usize> {
    let block = block.max(1);
    (0..events.div_ceil(block))
        .map(|b| block.min(events - b * block))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_block_has_a_reference_block_on_each_side() {
        let order = schedule(&[3, 1, 2], 1);
        for (at, slot) in order.iter().enumerate() {
            if let Slot::Subject(_) = slot {
                assert_eq!(order[at - 1], Slot::Reference);
                assert_eq!(order[at + 1], Slot::Reference);
            }
        }
        for (i, blocks) in [3, 1, 2].into_iter().enumerate() {
            let count = order.iter().filter(|s| **s == Slot::Subject(i)).count();
            assert_eq!(count, blocks);
        }
        assert_eq!(order.iter().filter(|s| **s == Slot::Reference).count(), 7);
    }

    #[test]
    fn the_turns_rotate_and_spread_each_subjects_blocks() {
        let subjects = |rotate| -> Vec<usize> {
            schedule(&[2, 2, 1], rotate)
                .into_iter()
                .filter_map(|s| match s {
                    Slot::Subject(i) => Some(i),
                    Slot::Reference => None,
                })
                .collect()
        };
        assert_eq!(subjects(0), [0, 1, 2, 0, 1]);
        assert_eq!(subjects(1), [1, 2, 0, 1, 0]);
        assert_eq!(subjects(5), [2, 0, 1, 0, 1]);
    }

    #[test]
    fn without_subjects_the_reference_runs_one_block() {
        assert_eq!(schedule(&[], 3), [Slot::Reference]);
    }

    #[test]
    fn events_are_cut_into_blocks_the_last_one_short() {
        assert_eq!(blocks_of(300, 100), [100, 100, 100]);
        assert_eq!(blocks_of(250, 100), [100, 100, 50]);
        assert_eq!(blocks_of(0, 100), Vec::<usize>::new());
    }
}
