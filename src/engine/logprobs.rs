//! Log-probabilities of a generated token and its top alternatives: the log-softmax of the
//! logits the core computed for the position (the numbers the logit log records), before any
//! sampling parameter applies — what OpenAI's `logprobs` report (.specs/openai-api.md).

use super::job::TokenLogprobs;

/// Most alternatives a request may ask for.
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// `token`'s log-probability under `logits` and the `top_n` most likely ids (ties to the lower
/// id). Sums run in f64 in id order; a NaN logit counts as −∞, as in the sampler.
pub fn token_logprobs(logits: &[f32], token: u32, top_n: usize) -> TokenLogprobs {
    let value = |l: f32| if l.is_nan() { f64::NEG_INFINITY } else { l as f64 };
    let max = logits.iter().map(|&l| value(l)).fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits.iter().map(|&l| (value(l) - max).exp()).sum();
    let log_z = max + sum.ln();
    let logprob = |id: usize| (value(logits[id]) - log_z) as f32;
    let mut top: Vec<usize> = Vec::with_capacity(top_n + 1);
    if top_n > 0 {
        // One pass keeping the best top_n in order (top_n is small).
        let better = |a: usize, b: usize| value(logits[a]) > value(logits[b]) || (value(logits[a]) == value(logits[b]) && a < b);
        for id in 0..logits.len() {
            if top.len() == top_n && !better(id, top[top_n - 1]) {
                continue;
            }
            let at = top.partition_point(|&t| better(t, id));
            top.insert(at, id);
            top.truncate(top_n);
        }
    }
    TokenLogprobs { logprob: logprob(token as usize), top: top.into_iter().map(|id| (id as u32, logprob(id))).collect() }
}

#[cfg(test)]
mod tests {
    use super::token_logprobs;

    #[test]
    fn log_softmax_of_known_logits() {
        let logits = [1.0f32, 3.0, 2.0, 3.0];
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        let lp = token_logprobs(&logits, 2, 3);
        assert!((lp.logprob as f64 - (2.0 - z.ln())).abs() < 1e-6);
        let ids: Vec<u32> = lp.top.iter().map(|t| t.0).collect();
        assert_eq!(ids, [1, 3, 2], "by logprob, ties to the lower id");
        let total: f64 = logits.iter().enumerate().map(|(i, _)| (token_logprobs(&logits, i as u32, 0).logprob as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }

    #[test]
    fn nan_is_minus_infinity_and_top_n_may_exceed_the_vocabulary() {
        let lp = token_logprobs(&[f32::NAN, 0.0], 0, 5);
        assert_eq!(lp.logprob, f32::NEG_INFINITY);
        assert_eq!(lp.top.len(), 2);
        assert_eq!(lp.top[0], (1, 0.0));
    }
}
