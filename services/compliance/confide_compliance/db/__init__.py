"""PostgreSQL adapters: tables (`tables`), JSON codecs of domain values (`codec`), repositories and the
unit of work (`repositories`), and the single-runner lock (`locks`)."""
