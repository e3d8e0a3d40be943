"""Identity's services, one module per concern: `accounts` (registration, verification,
profiles, roles), `sessions` (password sign-in, tokens, refresh rotation), `api_keys`,
`wallets` (SIWE/SIWS sign-in, linking, custody) and `quota` (daily generation quotas).

Each function takes the caller's `AsyncSession` and never commits: whoever opened the
transaction (a request, a task, a flow step) owns it. Errors are `AppError`s with stable slugs.
"""
