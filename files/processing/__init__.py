"""The processing pipeline: sniff, extract metadata and text, make renditions, label."""
