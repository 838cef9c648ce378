//! A chat turn: `/run` dispatch, model providers and the tool loop.
