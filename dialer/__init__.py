"""Call lists to calls. So far the pure core: pacing (`pacing`, `forecast`, `estimates`,
`windows`) and a seeded call-centre simulation to measure it (`simulation`, `controllers`,
`vicidial`); see docs/dialer.md."""
