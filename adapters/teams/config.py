"""The configuration object botbuilder reads by attribute name, built from our settings."""

from __future__ import annotations

from botframework.connector.auth import AuthenticationConstants, CallerIdConstants

from adapters.host.settings import Settings


class BotConfig:
    """What ``ConfigurationBotFrameworkAuthentication`` looks up with ``getattr``."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.microsoft_app_id or ""
        self.APP_PASSWORD = (
            settings.microsoft_app_password.get_secret_value()
            if settings.microsoft_app_password
            else ""
        )
        tenant = settings.microsoft_app_tenant_id or ""
        # SingleTenant when a tenant is given (Azure's default since multi-tenant bots were
        # deprecated), MultiTenant otherwise, unless MICROSOFT_APP_TYPE says so explicitly.
        self.APP_TYPE = settings.microsoft_app_type or ("SingleTenant" if tenant else "MultiTenant")
        self.APP_TENANTID = tenant
        if settings.microsoft_openid_metadata_url:
            self._use_metadata_url(settings.microsoft_openid_metadata_url)

    def _use_metadata_url(self, url: str) -> None:
        """Point token validation at other signing keys (sovereign clouds, tests).

        Setting any one of these switches botbuilder to its "parameterized" authentication,
        which then needs every public-cloud value spelled out; we take them from botframework's
        own constants so only the metadata location changes.
        """
        self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = url
        self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = (
            AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
        )
        self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = (
            AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        )
        self.TO_CHANNEL_FROM_BOT_LOGIN_URL = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL
        self.OAUTH_URL = AuthenticationConstants.OAUTH_URL
        self.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = (
            AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
        )
        self.CALLER_ID = CallerIdConstants.public_azure_channel

    def __repr__(self) -> str:  # never show the password
        return f"BotConfig(APP_ID={self.APP_ID!r}, APP_TYPE={self.APP_TYPE!r})"

    @property
    def local_mode(self) -> bool:
        return not self.APP_ID
