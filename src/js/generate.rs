//! `Model`'s causal-LM calls in JS: `generate`, `logits`, `tokenize`, `decode` (`stream` is
//! built on `generate` in the package's `index.js`).

use js_sys::{Array, Float32Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::args::{
    function_option, get, ids_arg, invalid_input, number_option, options_object, signal_option,
    string_arg, type_name, whole_option,
};
use super::model::{Handle, JsModel};
use super::{to_js, to_js_error};
use crate::models::llama::Message;
use crate::runtime::{FinishReason, GenerateOptions, Prompt, SamplingOptions};

/// `generate`'s option keys.
const GENERATE_KEYS: [&str; 10] = [
    "maxNewTokens",
    "temperature",
    "topK",
    "topP",
    "repetitionPenalty",
    "seed",
    "stop",
    "suppressTokens",
    "signal",
    "onToken",
];

#[wasm_bindgen(js_class = Model)]
impl JsModel {
    /// Generates text from a prompt string or a `[{role, content}]` conversation (through the
    /// model's chat template): `{text, tokens, finishReason, stats}`. Options: `maxNewTokens`
    /// (128), `temperature` (0 = greedy), `topK`, `topP`, `repetitionPenalty`, `seed`, `stop`
    /// (texts that end it), `suppressTokens`, `signal` (an abort rejects with an `AbortError`
    /// whose `partial` is the result so far, `finishReason: 'abort'`), `onToken({token, text})`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Generation>")]
    pub fn generate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | ChatMessage[]")] prompt: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GenerateOptions")] options: Option<JsValue>,
    ) -> Promise {
        let handle = self.handle.clone();
        future_to_promise(async move { handle.generate(prompt, options).await })
    }

    /// The last position's logits for `tokenIds` (a `Float32Array` of `info.vocabSize`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array>")]
    pub fn logits(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number[] | Uint32Array")] token_ids: JsValue,
    ) -> Promise {
        let handle = self.handle.clone();
        future_to_promise(async move {
            handle.check_loaded()?;
            let ids = ids_arg(&token_ids, "tokenIds")?;
            let mut runtime = handle.shared.lock().await?;
            let result = runtime.logits(handle.info.id, &ids).await;
            handle.shared.settle(runtime);
            Ok(Float32Array::from(result.map_err(to_js_error)?.as_slice()).into())
        })
    }

    /// Token ids of `text` (special tokens such as `<|im_start|>` parsed; a BOS token added
    /// when the tokenizer config says so).
    #[wasm_bindgen(unchecked_return_type = "Promise<number[]>")]
    pub fn tokenize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
    ) -> Promise {
        let handle = self.handle.clone();
        future_to_promise(async move {
            handle.check_loaded()?;
            let text = text_arg(&text, "text")?;
            let runtime = handle.shared.lock().await?;
            let result = runtime.tokenize(handle.info.id, &text);
            handle.shared.settle(runtime);
            to_js(&result.map_err(to_js_error)?)
        })
    }

    /// The text of `tokenIds`; `{skipSpecialTokens: true}` leaves special tokens out.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn decode(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number[] | Uint32Array")] token_ids: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ skipSpecialTokens?: boolean }")]
        options: Option<JsValue>,
    ) -> Promise {
        let handle = self.handle.clone();
        future_to_promise(async move {
            handle.check_loaded()?;
            let ids = ids_arg(&token_ids, "tokenIds")?;
            let options = options_object(
                &options.unwrap_or_default(),
                "decode",
                &["skipSpecialTokens"],
            )?;
            let skip =
                super::args::bool_option(options.as_ref(), "skipSpecialTokens")?.unwrap_or(false);
            let runtime = handle.shared.lock().await?;
            let result = runtime.decode(handle.info.id, &ids, skip);
            handle.shared.settle(runtime);
            Ok(JsValue::from(result.map_err(to_js_error)?))
        })
    }
}

impl Handle {
    async fn generate(
        &self,
        prompt: JsValue,
        options: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        self.check_loaded()?;
        let prompt = prompt_arg(&prompt)?;
        let options = options_object(&options.unwrap_or_default(), "generate", &GENERATE_KEYS)?;
        let o = options.as_ref();
        let on_token = function_option(o, "onToken")?;
        let signal = signal_option(o, "signal")?;
        let sampling = SamplingOptions {
            temperature: number_option(o, "temperature", 0.0..=100.0)?.unwrap_or(0.0) as f32,
            top_k: whole_option(o, "topK")?.unwrap_or(0) as usize,
            top_p: number_option(o, "topP", 0.0..=1.0)?.unwrap_or(1.0) as f32,
            repetition_penalty: number_option(o, "repetitionPenalty", 0.01..=100.0)?.unwrap_or(1.0)
                as f32,
            seed: whole_option(o, "seed")?.unwrap_or(0),
        };
        let suppress = get(o, "suppressTokens");
        let options = GenerateOptions {
            max_new_tokens: whole_option(o, "maxNewTokens")?.unwrap_or(128) as usize,
            sampling,
            stop: stop_option(&get(o, "stop"))?,
            suppress_tokens: match suppress.is_undefined() {
                true => Vec::new(),
                false => ids_arg(&suppress, "suppressTokens")?,
            },
            cancel: signal.as_ref().map(crate::fetch::cancel_on_abort),
            keep_logits: false,
            pause: Some(yield_to_event_loop()),
        };
        let mut runtime = self.shared.lock().await?;
        let emit = |token: u32, text: &str| {
            if let Some(callback) = &on_token {
                let event = Object::new();
                let _ = Reflect::set(&event, &"token".into(), &token.into());
                let _ = Reflect::set(&event, &"text".into(), &text.into());
                let _ = callback.call1(&JsValue::NULL, &event);
            }
        };
        let result = runtime
            .generate(self.info.id, &prompt, &options, emit)
            .await;
        self.shared.settle(runtime);
        let generation = result.map_err(to_js_error)?;
        let value = to_js(&generation)?;
        if generation.finish_reason == FinishReason::Abort {
            // `ABORTED` as every call with a signal, with what was generated kept.
            let error = to_js_error(crate::Error::Aborted);
            let _ = Reflect::set(&error, &"partial".into(), &value);
            return Err(error);
        }
        Ok(value)
    }
}

/// A string taken as is (may be empty), else `INVALID_INPUT`.
fn text_arg(value: &JsValue, argument: &str) -> Result<String, JsValue> {
    value.as_string().ok_or_else(|| {
        invalid_input(
            argument,
            &format!("expected a string, got {}", type_name(value)),
        )
    })
}

/// `generate`'s prompt: a non-empty string, or a non-empty array of `{role, content}` strings.
fn prompt_arg(value: &JsValue) -> Result<Prompt, JsValue> {
    if value.is_string() {
        return string_arg(value, "prompt").map(Prompt::Text);
    }
    let Some(array) = value.dyn_ref::<Array>() else {
        let got = type_name(value);
        return Err(invalid_input(
            "prompt",
            &format!("expected a string or an array of {{role, content}} messages, got {got}"),
        ));
    };
    if array.length() == 0 {
        return Err(invalid_input("prompt", "no messages"));
    }
    let messages = (array.iter().enumerate())
        .map(|(i, m)| {
            let field = |key: &str| {
                (Reflect::get(&m, &key.into())
                    .ok()
                    .and_then(|v| v.as_string()))
                .ok_or_else(|| invalid_input(&format!("prompt[{i}].{key}"), "expected a string"))
            };
            if !m.is_object() {
                return Err(invalid_input(
                    &format!("prompt[{i}]"),
                    "expected a {role, content} object",
                ));
            }
            Ok(Message {
                role: field("role")?,
                content: field("content")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Prompt::Messages(messages))
}

/// `stop`: a string or an array of non-empty strings.
fn stop_option(value: &JsValue) -> Result<Vec<String>, JsValue> {
    let bad = || super::invalid_option("stop", "expected a non-empty string or an array of them");
    if value.is_undefined() {
        return Ok(Vec::new());
    }
    let items: Vec<JsValue> = match value.dyn_ref::<Array>() {
        Some(array) => array.iter().collect(),
        None => vec![value.clone()],
    };
    items
        .iter()
        .map(|v| v.as_string().filter(|s| !s.is_empty()).ok_or_else(bad))
        .collect()
}

/// A zero-delay pause through a `MessageChannel` (falling back to `setTimeout` where there is
/// none): the page and `onToken` consumers run between steps, without the 4 ms clamp nested
/// `setTimeout`s get.
fn yield_to_event_loop() -> crate::fetch::SleepFn {
    let fallback = crate::fetch::browser_sleep();
    std::rc::Rc::new(move |delay| {
        let global = js_sys::global();
        let channel = (Reflect::get(&global, &"MessageChannel".into()).ok())
            .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
            .and_then(|c| Reflect::construct(&c, &Array::new()).ok());
        let Some(channel) = channel else {
            return fallback(delay);
        };
        let promise = Promise::new(&mut |resolve, _| {
            let port = |name: &str| Reflect::get(&channel, &name.into()).unwrap_or_default();
            let _ = Reflect::set(&port("port1"), &"onmessage".into(), &resolve);
            let post = Reflect::get(&port("port2"), &"postMessage".into()).ok();
            if let Some(post) = post.and_then(|p| p.dyn_into::<js_sys::Function>().ok()) {
                let _ = post.call1(&port("port2"), &JsValue::NULL);
            } else {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        Box::pin(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        })
    })
}
