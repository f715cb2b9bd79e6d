"""Generated coreLang models of any size, for benchmarks, tests and demonstrations.

:func:`corelang_enterprise` builds a company network: an Internet, a DMZ and several internal subnets joined by
a routing firewall and connection rules; per host an operating system (Application) running a service
application, an identity with credentials, a user and some data; a few software products, each with a known
vulnerability; and credentials reused across some hosts. The model is deterministic for a given size.
"""

from __future__ import annotations

from breachpath.model import Model, ModelAsset


def corelang_enterprise(hosts: int, subnets: int | None = None, products: int = 5) -> Model:
    """A coreLang model with ``hosts`` hosts (about seven assets each), in the mal-toolbox layout."""
    if hosts < 1:
        raise ValueError("hosts must be at least 1")
    subnets = subnets or max(2, hosts // 50)
    assets: dict[int, ModelAsset] = {}

    def add(name: str, asset_type: str, **defenses: float) -> ModelAsset:
        asset = ModelAsset(len(assets), name, asset_type, dict(defenses), {})
        assets[asset.id] = asset
        return asset

    def link(a: ModelAsset, field: str, b: ModelAsset, back: str) -> None:
        a.links.setdefault(field, []).append(b.id)
        b.links.setdefault(back, []).append(a.id)

    internet = add("Internet", "Network")
    dmz = add("DMZ", "Network")
    nets = [add(f"Subnet {i}", "Network") for i in range(subnets)]
    firewall = add("Firewall", "RoutingFirewall")
    # Internet → DMZ, DMZ → every subnet, subnet → subnet next door.
    pairs = [(internet, dmz)] + [(dmz, n) for n in nets] + list(zip(nets, nets[1:], strict=False))
    for k, (src, dst) in enumerate(pairs):
        rule = add(f"Rule {k} {src.name} to {dst.name}", "ConnectionRule", restricted=0.0, payloadInspection=0.0)
        link(rule, "routingFirewalls", firewall, "connectionRules")
        link(src, "outgoingNetConnections", rule, "outNetworks")
        link(dst, "ingoingNetConnections", rule, "inNetworks")
    product_assets = []
    for p in range(products):
        product = add(f"Product {p}", "SoftwareProduct")
        vuln = add(f"CVE-{2020 + p}-{1000 + p}", "SoftwareVulnerability", notPresent=0.0, networkAccessRequired=1.0)
        link(vuln, "softwareProduct", product, "softProductVulnerabilities")
        product_assets.append(product)
    identities = []
    for i in range(hosts):
        net = dmz if i % 10 == 0 else nets[i % subnets]
        os_app = add(f"host{i} OS", "Application", notPresent=0.0, supplyChainAuditing=0.0)
        service = add(f"host{i} service", "Application", notPresent=0.0)
        link(os_app, "appExecutedApps", service, "hostApp")
        link(net, "applications", os_app, "networks")
        link(net, "applications", service, "networks")
        link(service, "appSoftProduct", product_assets[i % products], "softApplications")
        identity = add(f"host{i} admin", "Identity", notPresent=0.0)
        creds = add(f"host{i} password", "Credentials", notDisclosed=0.0, notGuessable=0.0, unique=0.0)
        link(identity, "credentials", creds, "identities")
        link(identity, "highPrivApps", os_app, "highPrivAppIAMs")
        user = add(f"user{i}", "User", noPasswordReuse=0.0, securityAwareness=0.0)
        link(user, "userIds", identity, "users")
        data = add(f"host{i} data", "Data", notPresent=0.0)
        link(data, "containingApp", service, "containedData")
        identities.append((identity, creds))
        if i % 10 == 9:  # the same password on another host
            other_identity, _ = identities[i - 5]
            link(other_identity, "credentials", creds, "identities")
    return Model(
        assets,
        {"name": f"coreLang enterprise, {hosts} hosts", "langID": "org.mal-lang.coreLang"},
        f"<corelang_enterprise({hosts})>",
    )
