"""Turning faces into gallery samples: photo checks, guided capture, quality gates, duplicates, re-embedding."""
