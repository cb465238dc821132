"""What personalisation achieved: lift against the holdout control group."""
