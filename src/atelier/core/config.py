"""Settings, read from `ATELIER_*` environment variables (and an optional `.env`).

Every setting is documented in the README's settings table; keep the two in step.
"""

from __future__ import annotations

import re
from functools import cached_property
from ipaddress import ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

ROLES = ("creator", "validator", "worker", "admin")


def parse_rate(value: str) -> tuple[int, int]:
    """Parse "20/minute" into (20, 60): requests allowed per window of N seconds."""
    match = RATE_RE.match(value)
    if match is None:
        raise ValueError(f"rate limit {value!r} must look like '20/minute'")
    return int(match.group(1)), _PERIOD_SECONDS[match.group(2)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ATELIER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default=Path(".atelier"), description="Data directory")
    database_url: SecretStr | None = Field(
        default=None, description="External PostgreSQL URL; embedded PostgreSQL when unset"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = Field(
        default=None, description="Origin users reach; default http://localhost:{port}"
    )
    env: Literal["development", "production"] = "development"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool | None = Field(default=None, description="JSON logs; default in production")

    wallet_key: SecretStr | None = Field(
        default=None,
        description="64 hex chars: the AES-256 key sealing platform-held wallets; "
        "generated into ATELIER_HOME/secrets when unset",
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key; generated into ATELIER_HOME/secrets when unset"
    )
    access_token_ttl_s: int = Field(default=900, ge=30)
    refresh_token_ttl_s: int = Field(default=30 * 86400, ge=60)

    require_email_verification: bool = True
    smtp_url: SecretStr | None = Field(
        default=None,
        description="smtp://user:pass@host:port (smtps:// for TLS, ?starttls=1); "
        "unset = write .eml files to ATELIER_HOME/mailbox",
    )
    mail_from: str = "Atelier <noreply@atelier.localhost>"
    email_token_ttl_s: int = Field(default=48 * 3600, ge=60)

    siwe_chain_ids: list[int] = Field(default_factory=lambda: [1, 131277322940537])
    siws_chain_ids: list[str] = Field(
        default_factory=lambda: ["mainnet", "devnet", "testnet", "localnet"]
    )
    nonce_ttl_s: int = Field(default=600, ge=10)

    music_genres: dict[str, str] = Field(
        default_factory=dict, description='truck style → genre overrides, e.g. {"matte": "jazz"}'
    )
    quota_daily: int = Field(default=25, ge=0)
    quota_per_role: dict[str, int] = Field(default_factory=lambda: {"admin": 1000})

    rate_limit_enabled: bool = True
    rate_limit_auth: str = "20/minute"
    rate_limit_write: str = "120/minute"
    rate_limit_worker: str = Field(
        default="3000/minute", description="per account on the worker routes (they poll)"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    task_concurrency: int = Field(default=4, ge=1, le=64)
    db_pool_size: int = Field(default=40, ge=1, le=500, description="connections kept per process")

    grid_max_attempts: int = Field(default=3, ge=1, le=20)
    grid_canary_rate: float = Field(
        default=0.02, ge=0.0, le=1.0, description="share of a worker's jobs that are canaries"
    )
    grid_canaries_first: int = Field(
        default=2, ge=0, le=100, description="canary jobs a new worker gets at once"
    )
    grid_lease_min_s: int = Field(default=60, ge=1)
    grid_lease_factor: float = Field(default=4.0, ge=1.0)
    grid_aging_s: int = Field(
        default=60, ge=1, description="seconds of waiting worth one priority point"
    )
    grid_worker_offline_s: int = Field(default=300, ge=5)
    grid_maintenance_after: int = Field(
        default=5, ge=1, description="consecutive failed or dropped jobs"
    )
    grid_impossible_timeout_s: int = Field(default=600, ge=10)
    grid_max_workers_per_account: int = Field(
        default=20, ge=1, le=10_000, description="workers one account may run (not retired)"
    )
    grid_max_result_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    grid_max_pixels: int = Field(
        default=4096 * 4096, ge=64 * 64, description="largest image or video frame decoded"
    )
    media_max_duration_s: float = Field(
        default=600.0, ge=1.0, description="longest audio or video any route decodes"
    )
    media_max_sample_rate: int = Field(default=192_000, ge=8_000, le=768_000)
    media_memory_bytes: int = Field(
        default=1 << 30, ge=64 << 20, description="address space one decode may add"
    )
    media_timeout_s: float = Field(default=120.0, ge=1.0, description="time one decode may take")
    c2pa_cert_chain: Path | None = Field(
        default=None, description="operator's PEM chain (signer first); default: our own CA"
    )
    c2pa_private_key: Path | None = Field(default=None, description="operator's PEM key")
    clip_visual_model: Path | None = Field(
        default=None, description="ONNX CLIP visual encoder for the semantic originality tier"
    )
    publish_s3_url: str | None = Field(
        default=None, description="s3://bucket/prefix for signed artifacts"
    )
    publish_s3_endpoint: str | None = Field(default=None, description="S3-compatible endpoint URL")
    publish_kubo_api: str | None = Field(
        default=None, description="Kubo RPC API, e.g. http://127.0.0.1:5001"
    )
    publish_pinata_jwt: SecretStr | None = Field(default=None, description="Pinata API JWT")
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="Stripe's endpoint signing secret (whsec_…)"
    )
    github_sponsors_webhook_secret: SecretStr | None = Field(
        default=None, description="the GitHub Sponsors webhook's secret"
    )
    stripe_api_key: SecretStr | None = Field(
        default=None, description="Stripe secret key (sk_…): payouts by Stripe Connect transfers"
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com", description="Stripe's API (a stand-in in tests)"
    )
    paypal_webhook_id: str | None = Field(
        default=None, max_length=100, description="the id PayPal gave our webhook (WH-…)"
    )
    webhook_tolerance_s: int = Field(
        default=300, ge=1, le=3600, description="how old a signed webhook may be"
    )
    economy_split_bp: tuple[int, int, int] = Field(
        default=(7500, 1500, 1000),
        description="a month's pool in basis points: workers, infrastructure, development",
    )
    economy_escrow_canaries: int = Field(
        default=2, ge=0, le=1000, description="canary jobs a new worker passes before it is paid"
    )
    economy_escrow_days: int = Field(
        default=7, ge=0, le=365, description="days a new worker's share stays in escrow"
    )
    clip_text_model: Path | None = Field(default=None, description="ONNX CLIP text encoder")
    clip_merges: Path | None = Field(
        default=None, description="CLIP BPE merges file (bpe_simple_vocab_16e6.txt.gz)"
    )
    max_verify_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="largest file a signed-in caller sends to /verify, /audit, /index, /embed",
    )
    max_anonymous_upload_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1024, description="the same for callers who do not sign in"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-For is believed",
    )
    local_worker: bool = Field(default=True, description="`atelier up` runs one offline worker")
    worker_onnx_image_model: Path | None = Field(
        default=None, description="ONNX image model file a worker offers (see docs/operations.md)"
    )

    # The engine (DESIGN.md section 6.9): catalog, update checks, A/B tests, thresholds.
    model_catalog: Path | None = Field(
        default=None,
        description="directory of model versions (docs/engine.md); unset: <home>/catalog",
    )
    model_provider_url: str | None = Field(
        default=None, description="a model provider's API whose new versions join the catalog"
    )
    model_provider_token: SecretStr | None = Field(
        default=None, description="bearer token for the model provider's API"
    )
    model_provider_max_bytes: int = Field(
        default=4 * 1024**3, ge=1024, description="largest weights file fetched from the provider"
    )
    engine_update_every_h: float = Field(default=24.0, gt=0, description="update check period")
    engine_benchmark_timeout_s: int = Field(
        default=1800, ge=10, description="a benchmark whose jobs are not all done by then fails"
    )
    engine_activate_gain: float = Field(
        default=0.10, ge=0, description="relative quality gain that activates without an A/B test"
    )
    engine_ab_alpha: float = Field(default=0.05, gt=0, lt=1, description="A/B false-positive rate")
    engine_ab_max_hours: float = Field(default=24.0, gt=0, description="an A/B test's longest run")
    engine_ab_challenger_share: float = Field(
        default=0.5, gt=0, lt=1, description="share of live jobs an A/B test's challenger runs"
    )
    engine_rollback_days: float = Field(default=7.0, ge=0, description="how long rollback is open")
    engine_image_min_psnr_db: float = Field(default=30.0, description="image benchmark bar")
    engine_image_min_ssim: float = Field(default=0.85, description="image benchmark bar")
    engine_image_max_lpips: float = Field(default=0.15, description="image benchmark bar")
    engine_image_max_fid: float = Field(default=20.0, description="image benchmark bar")
    engine_render_min_psnr_db: float = Field(default=35.0, description="render benchmark bar")
    engine_render_min_ssim: float = Field(default=0.92, description="render benchmark bar")
    engine_3d_min_mesh_quality: float = Field(default=0.90, description="3D benchmark bar")
    engine_3d_min_texture_px: int = Field(default=2048, description="3D benchmark bar")
    engine_lpips_model: Path | None = Field(
        default=None, description="LPIPS as an ONNX file (two images in, a distance out)"
    )
    engine_lpips_sha256: str | None = Field(default=None, description="the LPIPS file's sha256")
    engine_fid_model: Path | None = Field(
        default=None, description="FID's feature extractor as an ONNX file"
    )
    engine_fid_sha256: str | None = Field(default=None, description="the FID file's sha256")

    chain_rpc_url: str = Field(
        default="embedded",
        description="EVM JSON-RPC URL; `embedded` = an in-process eth-tester chain with the "
        "contracts deployed at start (its state lives as long as the process)",
    )
    chain_token_address: str | None = Field(default=None, description="SoulvanCoin address")
    chain_voting_address: str | None = Field(
        default=None, description="SoulvanUpgradeVoting address (the votes' EIP-712 domain)"
    )
    chain_relayer_key_file: Path | None = Field(
        default=None, description="file holding the relayer's hex private key (pays relay gas)"
    )
    chain_confirmations: int = Field(
        default=0, ge=0, le=1000, description="blocks the indexer waits before reading a block"
    )
    chain_poll_s: float = Field(default=2.0, gt=0, description="indexer and relayer period")
    chain_relay: bool = Field(default=True, description="relay signed votes on chain")
    chain_relay_budget_daily: int = Field(
        default=100, ge=0, description="relayer-paid transactions per account per day"
    )
    chain_relay_grace_s: int = Field(
        default=3600, ge=60, description="on-chain window beyond the off-chain one, for relays"
    )
    solana_rpc_url: str = Field(
        default="embedded",
        description="Solana JSON-RPC URL; `embedded` = LiteSVM in this process, its state kept "
        "in $ATELIER_HOME/solana",
    )
    solana_commitment: Literal["processed", "confirmed", "finalized"] = Field(
        default="confirmed", description="what the market waits for before a sale is settled"
    )
    solana_cluster: str = Field(
        default="solana:devnet",
        description="CAIP-2 id the Actions endpoints announce (X-Blockchain-Ids) for a cluster",
    )
    farcaster_hub_url: str = Field(
        default="embedded",
        description="the Farcaster hub whose HTTP API (/v1/…) the social indexer follows; "
        "`embedded` = the development stand-in hub this server runs at /farcaster/hub "
        "(messages kept in $ATELIER_HOME/farcaster); empty: no Farcaster",
    )
    farcaster_fids: list[int] = Field(
        default_factory=list,
        description="the accounts (fids) whose casts the feed follows, besides the platform's",
    )
    farcaster_fid: int = Field(
        default=1, ge=1, lt=2**63, description="the platform's own fid: cross-posts are its casts"
    )
    farcaster_signer_key: SecretStr | None = Field(
        default=None,
        description="hex ed25519 private key of a signer the hub accepts for farcaster_fid; "
        "generated (sealed in $ATELIER_HOME/farcaster) when unset, for the embedded hub",
    )
    farcaster_network: Literal["mainnet", "testnet", "devnet"] = Field(
        default="mainnet", description="the network cross-posts are signed for"
    )
    outbox_keep_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        description="days a dispatched outbox event is kept: how far back a reconnecting "
        "event stream can resume",
    )
    realtime_max_per_client: int = Field(
        default=100,
        ge=1,
        description="event streams (WebSocket, SSE, Socket.IO, a job's or film's) one client "
        "may hold open per process: a signed-in user, else an address (behind a proxy, set "
        "trusted_proxies so addresses are the clients')",
    )
    automation_private_targets: bool = Field(
        default=False,
        description="let automation webhooks call private and loopback addresses (tests, "
        "closed networks); off, a rule cannot reach this machine or its network",
    )
    market_reserve_name: str = Field(
        default="monads.skr", description="the platform-fee reserve's name (shown, resolved below)"
    )
    market_reserve_address: str | None = Field(
        default=None,
        description="the address `market_reserve_name` resolves to; required on a cluster, a "
        "platform-held account on the embedded runtime",
    )
    market_fee_bps: int = Field(
        default=250, ge=0, le=10_000, description="platform fee on every sale, basis points"
    )
    market_auction_extension_s: int = Field(
        default=900, ge=0, description="a bid this close to an auction's end extends it to this"
    )
    market_min_increment_bps: int = Field(
        default=500, ge=1, le=10_000, description="default least raise over the leading bid"
    )
    market_faucet_lamports: int = Field(
        default=20 * 10**9, ge=0, description="development faucet per wallet (embedded only)"
    )
    camera_name: str = Field(
        default="atelier-camera",
        pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
        description="this camera node's name: its PDA seed and what check-ins must name",
    )
    camera_source: str = Field(
        default="/dev/video0",
        description="the camera node's video: a V4L2 device, an RTSP/HTTP URL or a video file",
    )
    camera_fps: float = Field(default=15.0, gt=0, le=60, description="frames taken per second")
    camera_width: int = Field(default=640, ge=64, le=3840, description="frame width, pixels")
    camera_height: int = Field(default=360, ge=64, le=2160, description="frame height, pixels")
    camera_ring_s: float = Field(
        default=10.0, ge=1, le=120, description="seconds of past frames a recording may include"
    )
    camera_host: str = Field(
        default="127.0.0.1", description="where the camera node's three services listen"
    )
    camera_port: int = Field(default=5002, ge=1, le=65535, description="the camera service")
    vault_port: int = Field(default=5003, ge=1, le=65535, description="the biometric vault")
    camera_solana_port: int = Field(
        default=5001, ge=1, le=65535, description="the camera's Solana middleware"
    )
    camera_vault_url: str | None = Field(
        default=None, description="the vault the camera uses; default its own on vault_port"
    )
    camera_middleware_url: str | None = Field(
        default=None,
        description="the Solana middleware the camera uses; default its own on camera_solana_port",
    )
    camera_solana_rpc_url: str = Field(
        default="http://127.0.0.1:8080/solana/rpc",
        description="the Solana JSON-RPC the middleware sends check-ins to (default: the "
        "platform's embedded runtime, served to loopback callers in development)",
    )
    camera_program_id: str = Field(
        default="Hx5JaUCZXQqvcYzTcdgm9ZE3sqhMWqwAhNXZBrzWm45S",
        description="the program id camera PDAs are derived from",
    )
    camera_secret: SecretStr | None = Field(
        default=None,
        description="the operator's secret: the vault's device key and the node's service "
        "tokens come from it; generated into ATELIER_HOME/secrets when unset",
    )
    camera_session_ttl_s: int = Field(
        default=4 * 3600, ge=60, description="a check-in ends by itself after this long"
    )
    camera_template_ttl_s: int = Field(
        default=4 * 3600, ge=60, description="an enrolled face is purged after this long at most"
    )
    camera_match_distance: float = Field(
        default=0.5, gt=0, lt=2, description="largest face distance still accepted as a match"
    )
    camera_match_margin: float = Field(
        default=0.08, ge=0, lt=1, description="how much nearer the best match than the next"
    )
    governance_job_window_s: int = Field(
        default=3 * 86400, ge=60, description="voting window of a finished job's proposal"
    )
    governance_job_strategy: Literal[
        "verified-wallets", "one-wallet-one-vote", "erc20", "ledger", "quadratic"
    ] = Field(
        default="verified-wallets",
        description="a job proposal's voting power; erc20 = SoulvanCoin token gating",
    )
    governance_job_quorum: int = Field(
        default=1, ge=0, description="voting power (votes, or token base units) for a quorum"
    )
    governance_clock_skew_s: int = Field(
        default=300, ge=0, description="how far ahead of our clock a signed vote may be dated"
    )

    @field_validator("rate_limit_auth", "rate_limit_write", "rate_limit_worker")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("wallet_key")
    @classmethod
    def _valid_wallet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value.get_secret_value()):
            raise ValueError("must be 64 hex characters (32 bytes)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or network") from None
        return value

    @field_validator("economy_split_bp")
    @classmethod
    def _whole_split(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) < 0 or sum(value) != 10_000:
            raise ValueError("three non-negative basis points that sum to 10000")
        return value

    @field_validator("quota_per_role")
    @classmethod
    def _known_roles(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles in quota_per_role: {sorted(unknown)}")
        return value

    @cached_property
    def origin(self) -> str:
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    @cached_property
    def domain(self) -> str:
        """The RFC 3986 authority that SIWE/SIWS messages must name."""
        return urlsplit(self.origin).netloc

    @property
    def anonymous_upload_bytes(self) -> int:
        """The largest file a caller who does not sign in may send (never above the limit
        for those who do)."""
        return min(self.max_anonymous_upload_bytes, self.max_verify_bytes)

    @property
    def json_logs(self) -> bool:
        return self.env == "production" if self.log_json is None else self.log_json

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def mailbox_dir(self) -> Path:
        return self.home / "mailbox"

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def catalog_dir(self) -> Path:
        return self.model_catalog or self.home / "catalog"

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"

    def quota_for_roles(self, roles: list[str]) -> int:
        """A user's daily limit: the most generous of their roles' limits."""
        return max([self.quota_daily, *(self.quota_per_role.get(r, 0) for r in roles)])
