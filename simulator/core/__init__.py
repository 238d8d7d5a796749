"""Foundations every layer uses: errors, file locations, atomic storage, the safe YAML reader and shared text helpers."""
