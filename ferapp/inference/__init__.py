"""Inference: expression engine (batched model), synchronous pipeline, threaded real-time runner."""
