"""Chat templates: the Jinja program a chat model ships to turn a conversation into its prompt text.

    >>> print(apply_chat_template(tokenizer.chat_template, [{"role": "user", "content": "Hi"}]))
    <|im_start|>system
    You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
    <|im_start|>user
    Hi<|im_end|>
    <|im_start|>assistant
    <BLANKLINE>

Rendered as transformers renders them (`utils/chat_template_utils.py`), so the prompt is the one the model
was tuned on: jinja2's immutable sandbox (a template comes with downloaded weights and is untrusted code),
`trim_blocks` and `lstrip_blocks`, loop controls, a `tojson` that does not escape HTML, and the globals
`raise_exception` and `strftime_now`. Messages whose value is None lose that key, as there.
"""
from __future__ import annotations

import datetime
import functools
import json
from typing import Any, Sequence

from zoo.errors import ZooError


class ChatTemplateError(ZooError, ValueError):
    """A conversation the template refuses (its `raise_exception`), or a template that does not compile."""


def _raise_exception(message: str):
    import jinja2

    raise jinja2.exceptions.TemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    # jinja2's own tojson escapes <, > and & for HTML, which would change the prompt.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(format: str) -> str:
    return datetime.datetime.now().strftime(format)


@functools.lru_cache(maxsize=16)
def compile_chat_template(source: str):
    """A compiled `jinja2.Template` for a chat template's source (cached: compiling takes milliseconds)."""
    try:
        import jinja2
        import jinja2.ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise ChatTemplateError("chat templates need jinja2: pip install 'jinja2>=3.1.6'") from None

    class GenerationTag(jinja2.ext.Extension):
        """`{% generation %}...{% endgeneration %}` marks the assistant's words for training masks; here it
        only renders its body, as transformers does when it is not collecting those masks."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

        def _render(self, caller):
            return caller()

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                extensions=[GenerationTag, jinja2.ext.loopcontrols])
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise_exception
    environment.globals["strftime_now"] = _strftime_now
    try:
        return environment.from_string(source)
    except jinja2.TemplateSyntaxError as err:
        raise ChatTemplateError(f"the chat template does not compile (line {err.lineno}: {err.message}); "
                                "pass the template that comes with the model") from err


def apply_chat_template(template: str, messages: Sequence[dict[str, Any]], *, add_generation_prompt: bool = True,
                        **variables) -> str:
    """The prompt text of `messages` ([{'role': 'user', 'content': 'Hi'}, ...]).

    `add_generation_prompt` ends the text with the header of the assistant's turn, so that the model writes
    the reply; `variables` reach the template as names (bos_token, eos_token, tools, documents ...).
    """
    import jinja2

    if isinstance(messages, dict) or not all(isinstance(m, dict) for m in messages):
        raise ChatTemplateError("messages must be a list of dicts such as {'role': 'user', 'content': 'Hi'}; "
                                f"got {type(messages).__name__}: {messages!r:.200}")
    if not messages:
        raise ChatTemplateError("cannot render an empty conversation; pass at least one message")
    messages = [{key: value for key, value in m.items() if value is not None} for m in messages]
    variables = {"tools": None, "documents": None, **variables}
    try:
        return compile_chat_template(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                      **variables)
    except jinja2.TemplateError as err:
        raise ChatTemplateError(f"the chat template refused the conversation: {err}") from err
