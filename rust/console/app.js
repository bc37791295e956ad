// The console application (placeholder).
