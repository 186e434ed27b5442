"""The portal's menu per role."""

from __future__ import annotations

from datahub_api.auth.principal import Role

# The menu of each role: (path, text key). Pages of other modules add their entries here.
NAV: dict[Role, list[tuple[str, str]]] = {
    Role.customer: [
        ("/portal/my-data", "nav_my_data"),
        ("/portal/sharing", "nav_sharing"),
        ("/portal/mandates", "nav_mandates"),
        ("/portal/co-consents", "nav_co_consents"),
        ("/portal/access-log", "nav_access_log"),
    ],
    Role.grid_user: [
        ("/portal/co-consents", "nav_co_consents"),
        ("/portal/mandates", "nav_mandates"),
        ("/portal/access-log", "nav_access_log"),
        ("/portal/sharing", "nav_sharing"),
        ("/portal/my-data", "nav_my_data"),
    ],
    Role.operator: [
        ("/portal/operator/contracts", "nav_contracts"),
        ("/portal/operator/organisations", "nav_organisations"),
        ("/portal/operator/access-points", "nav_access_points"),
        ("/portal/operator/sla", "nav_sla"),
        ("/portal/operator/nps-audits", "nav_nps_audits"),
    ],
    Role.esp: [
        ("/portal/esp/access-points", "esp_nav_access_points"),
        ("/portal/esp/contracts", "esp_nav_contracts"),
        ("/portal/esp/clients", "esp_nav_clients"),
        ("/portal/esp/webhooks", "esp_nav_webhooks"),
        ("/portal/esp/nps-audits", "esp_nav_nps_audits"),
        ("/portal/esp/history-exports", "esp_nav_history_exports"),
    ],
}
