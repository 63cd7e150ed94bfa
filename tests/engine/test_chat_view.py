"""The lab's view of a conversation (training.engine.chat_view) is token for token what
training sees: the same ids as encode_conversation with the engine's chat tokenizer, and a
token counts exactly where its label is not -100. It needs neither transformers nor torch."""
import json
import subprocess
import sys

import pytest

from tests.factories import ROOT, build_tiny_gpt2
from training.engine.chat import IGNORE, chat_tokenizer, encode_conversation, render
from training.engine.chat_view import chat_token_view
from training.engine.tokenization import gpt2_tokenizer_dir, load_tokenizer, train_bpe_tokenizer

CONVERSATIONS = [
    [{"role": "user", "content": "What is a token?"}, {"role": "assistant", "content": "A piece of text."}],
    [{"role": "system", "content": "You are a tutor."}, {"role": "user", "content": "トークンとは？"},
     {"role": "assistant", "content": "  テキストの断片です。 \n二行目"}],
    [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}],
    [{"role": "user", "content": "a <|end|> b"}, {"role": "assistant", "content": " <|user|> x\t y  "}],
    [{"role": "user", "content": "😀 emoji"}, {"role": "assistant", "content": "😀😀 ok.\n\n"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
     {"role": "user", "content": "Again?"}, {"role": "assistant", "content": "Yes, again."}],
]


@pytest.fixture(scope="module")
def scratch_dir(tmp_path_factory) -> str:
    corpus = ["the cat sat on the mat.", "東京メトロに乗って猫カフェへ行く。"] * 40
    return build_tiny_gpt2(tmp_path_factory.mktemp("chat-view"), corpus, vocab_size=400)


@pytest.fixture(scope="module")
def fallback_dir(tmp_path_factory) -> str:
    """The from-scratch base's BPE with byte fallback (rare characters become <0xNN> tokens)."""
    corpus = ["the cat sat on the mat.", "東京メトロに乗って猫カフェへ行く。"] * 40
    return train_bpe_tokenizer(corpus, str(tmp_path_factory.mktemp("chat-view-fallback") / "tokenizer"))


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("which", ["gpt2", "scratch", "fallback"])
def test_tokens_and_mask_are_those_of_encode_conversation(messages, which, scratch_dir, fallback_dir):
    directory = {"gpt2": gpt2_tokenizer_dir(), "scratch": scratch_dir, "fallback": fallback_dir}[which]
    ids, labels = encode_conversation(chat_tokenizer(load_tokenizer(directory)), messages)
    view = chat_token_view(directory, messages)
    assert [token["id"] for token in view["tokens"]] == ids
    assert [token["counts"] for token in view["tokens"]] == [label != IGNORE for label in labels]
    assert view["count"] == len(ids) and view["counted"] == sum(label != IGNORE for label in labels)
    assert view["text"] == render(messages)


def test_each_token_shows_its_characters_and_bytes():
    messages = CONVERSATIONS[1]
    view = chat_token_view(gpt2_tokenizer_dir(), messages)
    tokens = view["tokens"]
    # Whole characters join back into the rendered text; a split character is marked partial.
    raw = b"".join(bytes.fromhex(token["bytes"]) for token in tokens)
    assert raw == view["text"].encode("utf-8")
    assert any(token["partial"] for token in tokens)
    assert all(token["text"] for token in tokens)
    # The markers are single special tokens, the ids chat_tokenizer gives them.
    specials = [(token["text"], token["id"]) for token in tokens if token["special"]]
    assert specials[:2] == [("<|system|>", 50257), ("<|end|>", 50260)]
    assert ("<|user|>", 50258) in specials and ("<|assistant|>", 50259) in specials
    assert view["vocab_size"] == 50261
    assert {token["role"] for token in tokens} == {"system", "user", "assistant"}
    # What counts: the assistant's answer and its <|end|>, never its "\n" or the <|assistant|> marker.
    counted = [token for token in tokens if token["counts"]]
    assert counted[-1]["text"] == "<|end|>" and all(token["role"] == "assistant" for token in counted)
    assert not any(token["counts"] for token in tokens if token["text"] in ("<|assistant|>", "\n") and token["special"])


def test_byte_fallback_tokens_show_their_one_byte(fallback_dir):
    view = chat_token_view(fallback_dir, [{"role": "user", "content": "猫🐱猫"}, {"role": "assistant", "content": "猫"}])
    cat = "🐱".encode("utf-8")
    fallback = [token for token in view["tokens"] if token["partial"]]
    assert [bytes.fromhex(token["bytes"]) for token in fallback] == [bytes([b]) for b in cat]
    assert all(token["text"] == "🐱" for token in fallback)
    assert b"".join(bytes.fromhex(token["bytes"]) for token in view["tokens"]) == view["text"].encode("utf-8")


def test_it_needs_neither_transformers_nor_torch():
    probe = ("import json, sys\n"
             "from training.engine.chat_view import chat_token_view\n"
             "from training.engine.tokenization import gpt2_tokenizer_dir\n"
             "view = chat_token_view(gpt2_tokenizer_dir(), [{'role': 'user', 'content': 'Hi'},"
             " {'role': 'assistant', 'content': 'Hello.'}])\n"
             "print(json.dumps({'counted': view['counted'],"
             " 'loaded': [m for m in ('torch', 'transformers') if m in sys.modules]}))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"counted": 3, "loaded": []}  # "Hello", "." and <|end|>
