//! Admission: the one path from any front end (/execute, the OpenAI endpoints) to the engine.
//! A front end parses its own wire format into an `AdmissionRequest`; `admit` renders the chat
//! template, tokenizes, and checks the token budget, so the engine queues only jobs that can run.
//! It runs off the async runtime (tokenizing a long prompt takes milliseconds).

use crate::chat::{ChatMessage, ChatSupport};
use crate::engine::job::{Endpoint, JobSpec};
use crate::ffi::{SamplerParams, KV_BLOCK_TOKENS};
use crate::tokenizer::Tokenizer;

/// Most characters of prompt text (or of message content in all) a request may carry: a bound on
/// the tokenizer's work. The prompt's real limit is the context, in tokens.
pub const MAX_PROMPT_CHARS: usize = 32_768;

#[derive(Debug)]
pub enum PromptInput {
    /// Tokenized with special tokens recognised and BOS where the model's metadata asks.
    Text(String),
    /// Rendered with the chat template (assistant turn opened), then tokenized as Text.
    Messages(Vec<ChatMessage>),
    /// Used as given.
    Tokens(Vec<u32>),
}

/// How max_tokens meets the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetRule {
    /// /execute's contract: max_tokens defaults to --max-tokens-out, and a generation that reaches
    /// --ctx-size ends with CONTEXT_LENGTH_EXCEEDED in the stream.
    Execute,
    /// OpenAI's: prompt + max_tokens must fit the context (else 400); an absent max_tokens is what
    /// the context leaves, at most --max-tokens-out.
    Strict,
}

#[derive(Debug)]
pub struct AdmissionRequest {
    pub job_id: String,
    pub input: PromptInput,
    pub max_tokens: Option<u32>,
    pub sampling: SamplerParams,
    pub logit_bias: Vec<(i32, f32)>,
    pub stop: Vec<String>,
    pub logprobs: Option<u32>,
    pub endpoint: Endpoint,
    pub budget: BudgetRule,
}

/// What admission checks against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// --ctx-size: positions one job may reach.
    pub n_ctx: u32,
    /// --max-tokens-out.
    pub max_tokens_out: u32,
    /// The KV pool in positions.
    pub kv_pool_tokens: u64,
}

#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// A field's value cannot be served (the chat template refused the conversation, a token id
    /// outside the vocabulary): a 400 naming the field.
    Invalid { field: String, message: String },
    /// The job can never fit: the prompt alone (field = the prompt's) or with max_tokens.
    ContextLengthExceeded { field: &'static str, message: String, prompt_tokens: u32 },
    /// The prompt could not be tokenized, or tokenized to nothing.
    Tokenizer(String),
}

/// Renders, tokenizes and budgets a request into the job the engine runs.
pub fn admit(tokenizer: &Tokenizer, chat: &ChatSupport, limits: &Limits, req: AdmissionRequest) -> Result<JobSpec, Refusal> {
    let prompt_field = match req.input {
        PromptInput::Messages(_) => "messages",
        _ => "prompt",
    };
    let (prompt, tokens) = match req.input {
        PromptInput::Tokens(ids) => {
            if let Some(bad) = ids.iter().find(|&&t| t as usize >= tokenizer.vocab_size()) {
                return Err(Refusal::Invalid {
                    field: "prompt".into(),
                    message: format!("token id {bad} is outside the vocabulary (0 … {})", tokenizer.vocab_size() - 1),
                });
            }
            (tokenizer.decode(&ids), ids)
        }
        input => {
            let text = render(chat, input)?;
            let ids = tokenizer.encode(&text, true).map_err(|e| Refusal::Tokenizer(format!("tokenizing the prompt: {e}")))?;
            (text, ids)
        }
    };
    if tokens.is_empty() {
        return Err(Refusal::Tokenizer("the prompt tokenizes to nothing".into()));
    }
    let max_tokens = budget(limits, req.budget, tokens.len() as u64, req.max_tokens, prompt_field)?;
    Ok(JobSpec {
        job_id: req.job_id,
        prompt,
        prompt_tokens: tokens.into_iter().map(|t| t as i32).collect(),
        max_tokens,
        sampling: req.sampling,
        logit_bias: req.logit_bias,
        stop: req.stop,
        logprobs: req.logprobs,
        endpoint: req.endpoint,
    })
}

/// The prompt text of a Text or Messages input.
pub fn render(chat: &ChatSupport, input: PromptInput) -> Result<String, Refusal> {
    match input {
        PromptInput::Text(text) => Ok(text),
        PromptInput::Messages(messages) => chat.render(&messages).map_err(|message| Refusal::Invalid { field: "messages".into(), message }),
        PromptInput::Tokens(_) => unreachable!("token prompts are not rendered"),
    }
}

/// The job's max_tokens, or why it can never fit. The pool check mirrors the scheduler's
/// reservation: prompt + max_tokens positions (at most the context) in whole blocks.
pub fn budget(limits: &Limits, rule: BudgetRule, prompt: u64, asked: Option<u32>, prompt_field: &'static str) -> Result<u32, Refusal> {
    let n_ctx = limits.n_ctx as u64;
    let too_long = |field: &'static str, message: String| Refusal::ContextLengthExceeded { field, message, prompt_tokens: prompt as u32 };
    if prompt >= n_ctx {
        return Err(too_long(prompt_field, format!("the prompt has {prompt} tokens; the context holds {n_ctx}, leaving no room to generate")));
    }
    let max_tokens = match (rule, asked) {
        (_, Some(m)) if rule == BudgetRule::Strict && prompt + m as u64 > n_ctx => {
            return Err(too_long(
                "max_tokens",
                format!(
                    "this model's context holds {n_ctx} tokens, but {} were requested ({prompt} in the prompt, {m} for the completion)",
                    prompt + m as u64
                ),
            ));
        }
        (_, Some(m)) => m,
        (BudgetRule::Execute, None) => limits.max_tokens_out,
        (BudgetRule::Strict, None) => (n_ctx - prompt).min(limits.max_tokens_out as u64) as u32,
    };
    let block = KV_BLOCK_TOKENS as u64;
    let reserve = (prompt + max_tokens as u64).min(n_ctx).div_ceil(block) * block;
    if reserve > limits.kv_pool_tokens {
        let field = if rule == BudgetRule::Strict && asked.is_some() { "max_tokens" } else { prompt_field };
        return Err(too_long(
            field,
            format!("the job can never fit the KV cache: it needs {reserve} positions (prompt + max_tokens), the pool holds {}", limits.kv_pool_tokens),
        ));
    }
    Ok(max_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { n_ctx: 100, max_tokens_out: 64, kv_pool_tokens: 160 };

    fn refused_field(r: Result<u32, Refusal>) -> &'static str {
        match r {
            Err(Refusal::ContextLengthExceeded { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn execute_keeps_its_defaults_and_lets_generation_run_into_the_context() {
        assert_eq!(budget(&LIMITS, BudgetRule::Execute, 10, None, "prompt"), Ok(64));
        // 90 + 50 > 100: admitted (reserve is capped at the context); the stream ends at the context.
        assert_eq!(budget(&LIMITS, BudgetRule::Execute, 90, Some(50), "prompt"), Ok(50));
        assert_eq!(refused_field(budget(&LIMITS, BudgetRule::Execute, 100, None, "messages")), "messages");
    }

    #[test]
    fn strict_fits_prompt_plus_max_tokens_in_the_context() {
        assert_eq!(budget(&LIMITS, BudgetRule::Strict, 10, None, "prompt"), Ok(64));
        assert_eq!(budget(&LIMITS, BudgetRule::Strict, 60, None, "prompt"), Ok(40), "what the context leaves");
        assert_eq!(budget(&LIMITS, BudgetRule::Strict, 60, Some(40), "prompt"), Ok(40));
        assert_eq!(refused_field(budget(&LIMITS, BudgetRule::Strict, 60, Some(41), "prompt")), "max_tokens");
        assert_eq!(refused_field(budget(&LIMITS, BudgetRule::Strict, 100, Some(1), "prompt")), "prompt");
    }

    #[test]
    fn a_job_the_pool_can_never_hold_is_refused_in_whole_blocks() {
        let small = Limits { n_ctx: 100, max_tokens_out: 64, kv_pool_tokens: 32 };
        assert_eq!(budget(&small, BudgetRule::Strict, 20, Some(12), "prompt"), Ok(12), "32 positions = 2 blocks");
        assert_eq!(refused_field(budget(&small, BudgetRule::Strict, 20, Some(13), "prompt")), "max_tokens");
        assert_eq!(refused_field(budget(&small, BudgetRule::Execute, 20, None, "prompt")), "prompt");
    }

    #[test]
    fn messages_render_through_the_chat_template() {
        let chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
                      {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        let chat = ChatSupport::load(Some(chatml), None, Default::default()).unwrap();
        let msgs = vec![ChatMessage { role: "system".into(), content: "Be brief.".into() }, ChatMessage { role: "user".into(), content: "Hi".into() }];
        let text = render(&chat, PromptInput::Messages(msgs.clone())).unwrap();
        assert_eq!(text, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        let none = ChatSupport::load(None, None, Default::default()).unwrap();
        match render(&none, PromptInput::Messages(msgs)) {
            Err(Refusal::Invalid { field, message }) => {
                assert_eq!(field, "messages");
                assert!(message.contains("no chat template"), "{message}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
