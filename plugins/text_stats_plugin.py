"""Counts characters, words, lines and sentences in a text."""

import re

from codexcontinue import InvalidInput, PluginInterface


class TextStatsPlugin(PluginInterface):
    name = "text_stats"
    description = "Counts characters, words, lines and sentences in a text, and lists the most common words."
    version = "1.0.0"
    author = "CodexContinue"
    category = "text"
    example = {"text": "The quick brown fox. The lazy dog!", "top": 2}
    parameters = {
        "oneOf": [
            {"type": "string", "description": "The text to analyse."},
            {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "description": "The text to analyse."},
                    "top": {"type": "integer", "minimum": 0, "default": 5, "description": "How many common words to list."},
                },
                "required": ["text"],
            },
        ]
    }

    def initialize(self):
        self.word = re.compile(r"[\w']+")
        self.sentence_end = re.compile(r"[.!?]+(?:\s|$)")

    def execute(self, data):
        top = 5
        if isinstance(data, dict):
            text = data.get("text")
            top = data.get("top", top)
            if not isinstance(top, int) or top < 0:
                raise InvalidInput("'top' must be a non-negative integer")
        else:
            text = data
        if not isinstance(text, str):
            raise InvalidInput("expected a string or an object with a 'text' string")
        words = [w.lower() for w in self.word.findall(text)]
        counts = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        common = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return {
            "characters": len(text),
            "words": len(words),
            "lines": len(text.splitlines()) if text else 0,
            "sentences": len(self.sentence_end.findall(text)),
            "unique_words": len(counts),
            "top_words": [{"word": w, "count": c} for w, c in common],
        }

    def shutdown(self):
        pass
