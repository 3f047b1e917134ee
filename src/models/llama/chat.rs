//! Chat templates: the Jinja template in `tokenizer_config.json`, rendered with `minijinja` the
//! way transformers' `apply_chat_template` renders it.

use minijinja::{Environment, ErrorKind, context};
use serde::{Deserialize, Serialize};

use crate::models::error::ModelError;

/// The file chat templates come from.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// Template instructions one render may execute: real chat templates use a few thousand; a
/// template that loops far past that is refused instead of hanging the page.
const FUEL: u64 = 2_000_000;

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` (or whatever roles the template knows).
    pub role: String,
    /// The turn's text.
    pub content: String,
}

/// A compiled chat template with the special tokens it may print.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`.
    ///
    /// # Errors
    /// [`ModelError::InvalidValue`] naming `chat_template` when it is not valid Jinja.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, ModelError> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_fuel(Some(FUEL));
        env.add_function("raise_exception", |message: String| -> Result<String, _> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat", source.to_owned())
            .map_err(|e| template_error("chat_template", &e))?;
        Ok(Self {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// The prompt for `messages`, ending with the assistant's turn opened when
    /// `add_generation_prompt` (what `generate` asks for).
    ///
    /// # Errors
    /// [`ModelError::InvalidValue`] when the template fails (it raised an exception, e.g. for
    /// roles out of order, or ran out of fuel).
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, ModelError> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| template_error("chat_template", &e))?;
        template
            .render(context! {
                messages => minijinja::Value::from(minijinja::value::Serde(messages)),
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| template_error("messages", &e))
    }
}

fn template_error(field: &str, error: &minijinja::Error) -> ModelError {
    let mut message = error.to_string();
    if let Some(detail) = error.detail() {
        message = format!("{message} ({detail})");
    }
    ModelError::InvalidValue {
        file: TOKENIZER_CONFIG_FILE.into(),
        field: field.into(),
        value: "the chat template".into(),
        reason: message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-Instruct's template (ChatML with a default system prompt).
    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn user(text: &str) -> Message {
        Message {
            role: "user".into(),
            content: text.into(),
        }
    }

    #[test]
    fn chatml_renders_as_transformers_does() {
        let t = ChatTemplate::new(CHATML, "<|im_start|>", "<|im_end|>").unwrap();
        let out = t.render(&[user("Hi")], true).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(
            !t.render(&[user("Hi")], false)
                .unwrap()
                .ends_with("assistant\n")
        );
    }

    #[test]
    fn python_string_methods_and_exceptions_work() {
        let src = "{% if messages[0].role != 'user' %}{{ raise_exception('first turn must be the user') }}{% endif %}{{ messages[0].content.strip() }}{{ bos_token }}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        assert_eq!(t.render(&[user("  x  ")], false).unwrap(), "x<s>");
        let system = Message {
            role: "system".into(),
            content: "s".into(),
        };
        let err = t.render(&[system], false).unwrap_err();
        assert!(
            err.to_string().contains("first turn must be the user"),
            "{err}"
        );
    }

    #[test]
    fn broken_and_runaway_templates_are_errors() {
        assert!(ChatTemplate::new("{% for %}", "", "").is_err());
        let forever = ChatTemplate::new(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let err = forever.render(&[], false).unwrap_err();
        assert!(err.to_string().contains("chat template"), "{err}");
    }
}
