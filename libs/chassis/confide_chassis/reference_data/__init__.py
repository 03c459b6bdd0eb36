"""Reference data every service shares (YAML with an `as_of` date); typed loaders live beside the
modules that use them, e.g. `confide_chassis.age_of_consent`."""
