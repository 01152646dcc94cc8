//! Generated run names for runs created without one, in MLflow's `adjective-noun-number` shape.

const ADJECTIVES: &[&str] = &[
    "able", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "fair", "fast",
    "gentle", "glad", "grand", "happy", "honest", "keen", "kind", "lively", "loud", "lucky",
    "merry", "mighty", "neat", "noble", "proud", "quick", "quiet", "rare", "sharp", "shy",
    "silent", "sleek", "smart", "snug", "steady", "sunny", "swift", "tidy", "warm", "wise",
    "zesty",
];

const NOUNS: &[&str] = &[
    "ant", "ape", "bat", "bear", "bee", "bird", "boar", "cat", "carp", "colt", "crab", "crane",
    "crow", "deer", "dove", "duck", "eel", "elk", "fawn", "finch", "fox", "frog", "goat", "hare",
    "hawk", "hen", "horse", "jay", "lark", "lion", "lynx", "mole", "moth", "mule", "newt", "owl",
    "panda", "pig", "ram", "seal", "shrew", "slug", "snail", "sow", "stag", "swan", "toad",
    "trout", "wasp", "whale", "wolf", "worm", "wren", "yak", "zebra",
];

/// A name built from `seed` (any 128 random bits, e.g. those of the run id).
pub fn run_name_from_seed(seed: u128) -> String {
    let adjective = ADJECTIVES[(seed % ADJECTIVES.len() as u128) as usize];
    let noun = NOUNS[((seed >> 32) % NOUNS.len() as u128) as usize];
    let number = (seed >> 64) % 1000;
    format!("{adjective}-{noun}-{number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_three_parts() {
        let name = run_name_from_seed(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        assert_eq!(name.split('-').count(), 3);
        assert_eq!(
            name,
            run_name_from_seed(0x1234_5678_9abc_def0_1234_5678_9abc_def0)
        );
    }
}
