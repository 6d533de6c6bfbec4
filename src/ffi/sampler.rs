//! Safe wrapper over the core's sampler (`wc_sampler`, .specs/sampling.md).

use std::ptr::NonNull;

use super::{check, last_thread_error, owned, sys, CoreError, ErrorKind, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerParams {
    /// 0 = greedy.
    pub temperature: f32,
    /// 0 = off.
    pub top_k: i32,
    /// 1 = off.
    pub top_p: f32,
    /// 0 = off.
    pub min_p: f32,
    /// 1 = off.
    pub repetition_penalty: f32,
    pub seed: u64,
    /// [-2, 2], 0 = off: subtracted once from the logit of every id generated so far.
    pub presence_penalty: f32,
    /// [-2, 2], 0 = off: times the number of times an id was generated so far.
    pub frequency_penalty: f32,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: 0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
        }
    }
}

pub struct Sampler {
    raw: NonNull<sys::wc_sampler>,
    n_vocab: usize,
}

// SAFETY: the sampler has no thread affinity; &mut self serialises every call that mutates it.
unsafe impl Send for Sampler {}

impl Sampler {
    pub fn new(params: SamplerParams, n_vocab: usize) -> Result<Sampler> {
        let n = i32::try_from(n_vocab)
            .map_err(|_| CoreError { kind: ErrorKind::InvalidArgument, message: "vocabulary too large".into() })?;
        let p = sys::wc_sampler_params {
            temperature: params.temperature,
            top_k: params.top_k,
            top_p: params.top_p,
            min_p: params.min_p,
            repetition_penalty: params.repetition_penalty,
            seed: params.seed,
            presence_penalty: params.presence_penalty,
            frequency_penalty: params.frequency_penalty,
        };
        let mut out: *mut sys::wc_sampler = std::ptr::null_mut();
        // SAFETY: p and out are valid for the call.
        let status = unsafe { sys::wc_sampler_create(&p, n, &mut out) };
        check(status, last_thread_error)?;
        let raw = NonNull::new(out)
            .ok_or_else(|| CoreError { kind: ErrorKind::Internal, message: "wc_sampler_create returned no handle".into() })?;
        Ok(Sampler { raw, n_vocab })
    }

    /// For the context's in-core sampling, which mutates the sampler through this pointer.
    pub(super) fn raw_ptr(&mut self) -> *mut sys::wc_sampler {
        self.raw.as_ptr()
    }

    fn last_error(&self) -> String {
        // SAFETY: raw is live.
        owned(unsafe { sys::wc_sampler_last_error(self.raw.as_ptr()) })
    }

    /// A context (prompt) token: joins the repetition-penalty history only.
    pub fn accept(&mut self, token: i32) -> Result<()> {
        // SAFETY: raw is live.
        let status = unsafe { sys::wc_sampler_accept(self.raw.as_ptr(), token) };
        check(status, || self.last_error())
    }

    /// A generated token: joins the repetition-penalty history and counts for the
    /// presence/frequency penalties.
    pub fn accept_output(&mut self, token: i32) -> Result<()> {
        // SAFETY: raw is live.
        let status = unsafe { sys::wc_sampler_accept_output(self.raw.as_ptr(), token) };
        check(status, || self.last_error())
    }

    /// Replaces the logit bias with these (id, bias) pairs; empty clears it. On error (an id out
    /// of range or repeated, a bias not in [-100, 100]) the previous bias stays.
    pub fn set_logit_bias(&mut self, bias: &[(i32, f32)]) -> Result<()> {
        let n = i32::try_from(bias.len())
            .map_err(|_| CoreError { kind: ErrorKind::InvalidArgument, message: "logit_bias has too many entries".into() })?;
        let (ids, values): (Vec<i32>, Vec<f32>) = bias.iter().copied().unzip();
        // SAFETY: raw is live; ids and values hold n elements each.
        let status = unsafe { sys::wc_sampler_set_logit_bias(self.raw.as_ptr(), ids.as_ptr(), values.as_ptr(), n) };
        check(status, || self.last_error())
    }

    pub fn sample(&mut self, logits: &[f32]) -> Result<i32> {
        if logits.len() != self.n_vocab {
            return Err(CoreError {
                kind: ErrorKind::InvalidArgument,
                message: format!("{} logits given, vocabulary is {}", logits.len(), self.n_vocab),
            });
        }
        let mut token = 0i32;
        // SAFETY: logits holds n_vocab floats; token is a valid out pointer.
        let status = unsafe { sys::wc_sampler_sample(self.raw.as_ptr(), logits.as_ptr(), logits.len() as i32, &mut token) };
        check(status, || self.last_error())?;
        Ok(token)
    }

    /// Clears the history and the output counts and reseeds; keeps the logit bias.
    pub fn reset(&mut self, seed: u64) {
        // SAFETY: raw is live.
        unsafe { sys::wc_sampler_reset(self.raw.as_ptr(), seed) }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // SAFETY: we own the handle.
        unsafe { sys::wc_sampler_free(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(p: SamplerParams, n: usize) -> Sampler {
        Sampler::new(p, n).unwrap()
    }

    fn greedy() -> SamplerParams {
        SamplerParams { temperature: 0.0, ..Default::default() }
    }

    fn ln(ps: &[f64]) -> Vec<f32> {
        ps.iter().map(|p| p.ln() as f32).collect()
    }

    fn counts(s: &mut Sampler, logits: &[f32], draws: usize) -> Vec<usize> {
        let mut c = vec![0; logits.len()];
        for _ in 0..draws {
            c[s.sample(logits).unwrap() as usize] += 1;
        }
        c
    }

    /// The reference SplitMix64 of .specs/sampling.md.
    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn rng_golden_values_drive_the_draw() {
        let mut st = 0u64;
        let golden: Vec<u64> = (0..3).map(|_| splitmix(&mut st)).collect();
        assert_eq!(golden, [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]);
        // Two equally likely ids, walked in id order: id 0 iff u < 0.5.
        let mut s = sampler(SamplerParams { seed: 0, ..Default::default() }, 2);
        let mut st = 0u64;
        for _ in 0..50 {
            let u = (splitmix(&mut st) >> 11) as f64 / (1u64 << 53) as f64;
            assert_eq!(s.sample(&[0.5, 0.5]).unwrap(), i32::from(u >= 0.5));
        }
    }

    #[test]
    fn greedy_is_argmax_with_ties_to_the_lowest_id_and_ignores_the_seed() {
        let logits = [1.0, 3.0, -2.0, 3.0, 0.5];
        for seed in [0, 1, 99] {
            let mut s = sampler(SamplerParams { seed, ..greedy() }, 5);
            assert_eq!(s.sample(&logits).unwrap(), 1);
        }
        let mut s = sampler(greedy(), 3);
        assert_eq!(s.sample(&[f32::NAN, -1.0, -1.0]).unwrap(), 1, "NaN counts as -inf");
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_logits() {
        let mut s = sampler(SamplerParams { repetition_penalty: 1.1, ..greedy() }, 2);
        assert_eq!(s.sample(&[2.0, 1.9]).unwrap(), 0);
        s.accept(0).unwrap();
        assert_eq!(s.sample(&[2.0, 1.9]).unwrap(), 1, "2.0 / 1.1 < 1.9");
        s.accept(0).unwrap(); // penalised once however often it repeats: 2.0 / 1.1 = 1.818 > 1.8
        assert_eq!(s.sample(&[2.0, 1.8]).unwrap(), 0);
    }

    #[test]
    fn repetition_penalty_on_negative_logits() {
        let mut s = sampler(SamplerParams { repetition_penalty: 1.5, ..greedy() }, 2);
        s.accept(0).unwrap();
        // -1.0 * 1.5 = -1.5 < -1.2
        assert_eq!(s.sample(&[-1.0, -1.2]).unwrap(), 1);
        s.reset(0);
        assert_eq!(s.sample(&[-1.0, -1.2]).unwrap(), 0, "reset clears the history");
        assert!(s.accept(2).is_err());
    }

    #[test]
    fn top_k_keeps_only_the_k_most_likely() {
        let logits = ln(&[0.1, 0.4, 0.05, 0.3, 0.15]);
        let mut s = sampler(SamplerParams { top_k: 1, seed: 3, ..Default::default() }, 5);
        assert!((0..200).all(|_| s.sample(&logits).unwrap() == 1));
        let mut s = sampler(SamplerParams { top_k: 2, seed: 3, ..Default::default() }, 5);
        let c = counts(&mut s, &logits, 2000);
        assert_eq!(c[0] + c[2] + c[4], 0, "{c:?}");
        assert!(c[1] > 0 && c[3] > 0);
    }

    #[test]
    fn top_p_keeps_the_smallest_prefix_reaching_p() {
        let logits = ln(&[0.5, 0.3, 0.15, 0.05]);
        // 0.5 + 0.3 reaches 0.75 (0.8 itself would sit on a rounding edge).
        let mut s = sampler(SamplerParams { top_p: 0.75, seed: 5, ..Default::default() }, 4);
        let c = counts(&mut s, &logits, 2000);
        assert_eq!(c[2] + c[3], 0, "{c:?}");
        assert!(c[0] > 0 && c[1] > 0);
        let mut s = sampler(SamplerParams { top_p: 0.5, seed: 5, ..Default::default() }, 4);
        assert_eq!(counts(&mut s, &logits, 500)[0], 500);
    }

    #[test]
    fn min_p_drops_tokens_below_the_fraction_of_the_top() {
        let logits = ln(&[0.5, 0.3, 0.15, 0.05]);
        let mut s = sampler(SamplerParams { min_p: 0.5, seed: 9, ..Default::default() }, 4);
        let c = counts(&mut s, &logits, 2000);
        assert_eq!(c[2] + c[3], 0, "p < 0.25 must go: {c:?}");
        assert!(c[0] > 0 && c[1] > 0);
    }

    #[test]
    fn same_seed_same_tokens_and_reset_reproduces() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1000) as f32 / 200.0).collect();
        let run = |seed: u64| {
            let mut s = sampler(SamplerParams { seed, temperature: 0.9, top_k: 50, top_p: 0.95, ..Default::default() }, 1000);
            (0..200).map(|_| s.sample(&logits).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let mut s = sampler(SamplerParams { seed: 7, temperature: 0.9, top_k: 50, top_p: 0.95, ..Default::default() }, 1000);
        let first: Vec<_> = (0..20).map(|_| s.sample(&logits).unwrap()).collect();
        s.reset(7);
        let again: Vec<_> = (0..20).map(|_| s.sample(&logits).unwrap()).collect();
        assert_eq!(first, again);
    }

    fn chi_square(observed: &[usize], expected_p: &[f64]) -> f64 {
        let n: usize = observed.iter().sum();
        observed.iter().zip(expected_p).map(|(&o, &p)| (o as f64 - n as f64 * p).powi(2) / (n as f64 * p)).sum()
    }

    #[test]
    fn sampled_frequencies_follow_the_distribution() {
        // Critical value of chi-square with 4 degrees of freedom at 0.999: 18.47.
        let p = [0.4, 0.25, 0.2, 0.1, 0.05];
        let mut s = sampler(SamplerParams { seed: 12345, ..Default::default() }, 5);
        let c = counts(&mut s, &ln(&p), 20_000);
        let x2 = chi_square(&c, &p);
        assert!(x2 < 18.47, "temperature 1: chi2 {x2}, counts {c:?}");
        // Temperature 0.5 squares the probabilities (then renormalises).
        let z: f64 = p.iter().map(|x| x * x).sum();
        let p2: Vec<f64> = p.iter().map(|x| x * x / z).collect();
        let mut s = sampler(SamplerParams { seed: 54321, temperature: 0.5, ..Default::default() }, 5);
        let c = counts(&mut s, &ln(&p), 20_000);
        let x2 = chi_square(&c, &p2);
        assert!(x2 < 18.47, "temperature 0.5: chi2 {x2}, counts {c:?}");
    }

    #[test]
    fn out_of_range_parameters_are_refused_by_name() {
        let bad = [
            (SamplerParams { temperature: -1.0, ..Default::default() }, "temperature"),
            (SamplerParams { temperature: f32::NAN, ..Default::default() }, "temperature"),
            (SamplerParams { top_k: 11, ..Default::default() }, "top_k"),
            (SamplerParams { top_k: -1, ..Default::default() }, "top_k"),
            (SamplerParams { top_p: 0.0, ..Default::default() }, "top_p"),
            (SamplerParams { top_p: 1.5, ..Default::default() }, "top_p"),
            (SamplerParams { min_p: 1.0, ..Default::default() }, "min_p"),
            (SamplerParams { repetition_penalty: 0.0, ..Default::default() }, "repetition_penalty"),
        ];
        for (p, name) in bad {
            let e = Sampler::new(p, 10).err().expect("refused");
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains(name), "{name}: {}", e.message);
        }
        let mut s = sampler(Default::default(), 10);
        assert!(s.sample(&[0.0; 9]).is_err());
    }

    // Presence/frequency/bias tests pick a rival logit just below or above the value the spec
    // gives the penalised id, so the greedy pick shows on which side of it that value falls.

    #[test]
    fn presence_penalty_subtracts_once_per_generated_id() {
        let mut s = sampler(SamplerParams { presence_penalty: 0.5, ..greedy() }, 3);
        assert_eq!(s.sample(&[1.0, 0.9, 0.0]).unwrap(), 0);
        s.accept_output(0).unwrap(); // 1.0 - 0.5 = 0.5
        assert_eq!(s.sample(&[1.0, 0.9, 0.0]).unwrap(), 1);
        s.accept_output(0).unwrap(); // still 0.5: once per id however often
        assert_eq!(s.sample(&[1.0, 0.49, 0.0]).unwrap(), 0);
        assert_eq!(s.sample(&[1.0, 0.51, 0.0]).unwrap(), 1);
    }

    #[test]
    fn frequency_penalty_scales_with_the_count() {
        let mut s = sampler(SamplerParams { frequency_penalty: 0.25, ..greedy() }, 2);
        for (n, left) in [(1, 0.75), (2, 0.5), (3, 0.25)] {
            s.accept_output(0).unwrap();
            assert_eq!(s.sample(&[1.0, left - 0.01]).unwrap(), 0, "after {n}: 1 - {n} * 0.25 = {left}");
            assert_eq!(s.sample(&[1.0, left + 0.01]).unwrap(), 1, "after {n}: 1 - {n} * 0.25 = {left}");
        }
        // Both: 1 - (3 * 0.25 + 0.1) = 0.15.
        let mut s = sampler(SamplerParams { frequency_penalty: 0.25, presence_penalty: 0.1, ..greedy() }, 2);
        (0..3).for_each(|_| s.accept_output(0).unwrap());
        assert_eq!(s.sample(&[1.0, 0.14]).unwrap(), 0);
        assert_eq!(s.sample(&[1.0, 0.16]).unwrap(), 1);
    }

    #[test]
    fn prompt_tokens_count_for_repetition_but_not_for_presence_or_frequency() {
        let mut s = sampler(SamplerParams { presence_penalty: 2.0, frequency_penalty: 2.0, ..greedy() }, 2);
        (0..5).for_each(|_| s.accept(0).unwrap());
        assert_eq!(s.sample(&[1.0, 0.9]).unwrap(), 0, "accepted prompt tokens are not output");
        s.accept_output(0).unwrap(); // counted once, not six times: 1 - (2 + 2) = -3
        assert_eq!(s.sample(&[1.0, -3.01]).unwrap(), 0);
        assert_eq!(s.sample(&[1.0, -2.99]).unwrap(), 1);

        // Repetition sees both kinds.
        let mut s = sampler(SamplerParams { repetition_penalty: 2.0, ..greedy() }, 3);
        s.accept(0).unwrap();
        s.accept_output(1).unwrap();
        assert_eq!(s.sample(&[1.0, 1.0, 0.6]).unwrap(), 2, "both halved to 0.5");
    }

    #[test]
    fn negative_penalties_raise_the_generated_ids() {
        let mut s = sampler(SamplerParams { presence_penalty: -0.5, frequency_penalty: -0.25, ..greedy() }, 2);
        s.accept_output(0).unwrap();
        s.accept_output(0).unwrap(); // 0 + 0.5 + 2 * 0.25 = 1.0
        assert_eq!(s.sample(&[0.0, 0.99]).unwrap(), 0);
        assert_eq!(s.sample(&[0.0, 1.01]).unwrap(), 1);
    }

    #[test]
    fn presence_penalty_shapes_the_sampled_distribution_too() {
        // Two equal logits, id 0 generated once with presence 1: p0 = e^-1 / (1 + e^-1).
        // Critical value of chi-square with 1 degree of freedom at 0.999: 10.83.
        let mut s = sampler(SamplerParams { presence_penalty: 1.0, seed: 77, ..Default::default() }, 2);
        s.accept_output(0).unwrap();
        let p0 = (-1f64).exp() / (1.0 + (-1f64).exp());
        let c = counts(&mut s, &[0.0, 0.0], 20_000);
        let x2 = chi_square(&c, &[p0, 1.0 - p0]);
        assert!(x2 < 10.83, "chi2 {x2}, counts {c:?}");
    }

    #[test]
    fn logit_bias_minus_100_bans_and_plus_100_forces() {
        let logits = [0.0, 5.0, 0.0, 1.0];
        let mut s = sampler(SamplerParams { seed: 1, ..Default::default() }, 4);
        s.set_logit_bias(&[(1, -100.0)]).unwrap();
        let c = counts(&mut s, &logits, 2000);
        assert_eq!(c[1], 0, "banned id sampled: {c:?}");
        assert!(c[0] > 0 && c[2] > 0 && c[3] > 0, "{c:?}");

        s.set_logit_bias(&[(2, 100.0)]).unwrap();
        assert_eq!(counts(&mut s, &logits, 2000)[2], 2000, "forced id not always sampled");
        let mut g = sampler(greedy(), 4);
        g.set_logit_bias(&[(1, -100.0)]).unwrap();
        assert_eq!(g.sample(&logits).unwrap(), 3, "greedy skips the banned id");
        g.set_logit_bias(&[(0, 100.0)]).unwrap();
        assert_eq!(g.sample(&logits).unwrap(), 0, "greedy takes the forced id");
        g.set_logit_bias(&[]).unwrap();
        assert_eq!(g.sample(&logits).unwrap(), 1, "an empty bias clears it");
    }

    #[test]
    fn greedy_ties_after_bias_go_to_the_lowest_id() {
        let logits = [1.0, 0.5, 0.0];
        let mut s = sampler(greedy(), 3);
        s.set_logit_bias(&[(2, 1.0)]).unwrap(); // 1.0, 0.5, 1.0
        assert_eq!(s.sample(&logits).unwrap(), 0);
        s.set_logit_bias(&[(2, 0.5), (0, -0.5)]).unwrap(); // 0.5, 0.5, 0.5
        assert_eq!(s.sample(&logits).unwrap(), 0);
        s.set_logit_bias(&[(0, -0.75), (2, 0.5)]).unwrap(); // 0.25, 0.5, 0.5
        assert_eq!(s.sample(&logits).unwrap(), 1);
    }

    #[test]
    fn reset_clears_the_output_counts_but_keeps_the_bias() {
        let mut s = sampler(SamplerParams { presence_penalty: 0.5, ..greedy() }, 2);
        s.set_logit_bias(&[(1, 0.2)]).unwrap();
        assert_eq!(s.sample(&[1.0, 0.7]).unwrap(), 0, "1.0 > 0.7 + 0.2");
        s.accept_output(0).unwrap();
        assert_eq!(s.sample(&[1.0, 0.7]).unwrap(), 1, "1.0 - 0.5 < 0.9");
        s.reset(0);
        assert_eq!(s.sample(&[1.0, 0.7]).unwrap(), 0, "reset cleared the count");
        assert_eq!(s.sample(&[1.0, 0.85]).unwrap(), 1, "reset kept the bias: 0.85 + 0.2 > 1.0");
    }

    #[test]
    fn bias_comes_before_the_repetition_penalty_and_presence_after_it() {
        // Bias then penalty: (1.0 + 1.0) / 2 = 1.0 < 1.2. The other order would give
        // 1.0 / 2 + 1.0 = 1.5 and pick id 0.
        let mut s = sampler(SamplerParams { repetition_penalty: 2.0, ..greedy() }, 2);
        s.set_logit_bias(&[(0, 1.0)]).unwrap();
        s.accept(0).unwrap();
        assert_eq!(s.sample(&[1.0, 1.2]).unwrap(), 1);
        // A bias that makes a negative logit positive: (-0.5 + 1.0) / 2 = 0.25 > 0.2 (the other
        // order: -0.5 * 2 + 1.0 = 0.0).
        assert_eq!(s.sample(&[-0.5, 0.2]).unwrap(), 0);
        // Penalty then presence: 1.0 / 2 - 0.5 = 0.0 < 0.1 (the other order: (1.0 - 0.5) / 2 = 0.25).
        let mut s = sampler(SamplerParams { repetition_penalty: 2.0, presence_penalty: 0.5, ..greedy() }, 2);
        s.accept_output(0).unwrap();
        assert_eq!(s.sample(&[1.0, 0.1]).unwrap(), 1);
    }

    #[test]
    fn out_of_range_penalties_and_bias_are_refused_by_name() {
        for v in [2.01, -2.01, f32::NAN, f32::INFINITY] {
            let e = Sampler::new(SamplerParams { presence_penalty: v, ..Default::default() }, 4).err().expect("refused");
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains("presence_penalty"), "{v}: {}", e.message);
            let e = Sampler::new(SamplerParams { frequency_penalty: v, ..Default::default() }, 4).err().expect("refused");
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains("frequency_penalty"), "{v}: {}", e.message);
        }
        for v in [2.0, -2.0] {
            assert!(Sampler::new(SamplerParams { presence_penalty: v, frequency_penalty: v, ..Default::default() }, 4).is_ok());
        }

        let mut s = sampler(greedy(), 4);
        s.set_logit_bias(&[(3, 100.0), (0, -100.0)]).unwrap(); // the limits themselves are allowed
        let bad: [(&[(i32, f32)], &str); 7] = [
            (&[(-1, 1.0)], "id -1 is outside [0, 4)"),
            (&[(0, 1.0), (4, 1.0)], "id 4 is outside [0, 4)"),
            (&[(1, 100.5)], "logit_bias for id 1"),
            (&[(1, -100.5)], "logit_bias for id 1"),
            (&[(2, f32::NAN)], "logit_bias for id 2"),
            (&[(2, f32::NEG_INFINITY)], "logit_bias for id 2"),
            (&[(2, 1.0), (1, 1.0), (2, -1.0)], "lists id 2 more than once"),
        ];
        for (bias, what) in bad {
            let e = s.set_logit_bias(bias).err().expect("refused");
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains("logit_bias") && e.message.contains(what), "{what}: {}", e.message);
            assert_eq!(s.sample(&[0.0, 0.0, 0.0, 0.0]).unwrap(), 3, "a refused bias changed the sampler");
        }
        assert!(s.accept_output(4).is_err() && s.accept_output(-1).is_err());
    }
}
