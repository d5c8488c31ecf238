#!/usr/bin/env python3
"""Writes pricing/aws.json, google.json and azure.json, the catalog shipped in the binary.

The numbers below are the providers' published on-demand list prices, transcribed by hand (the
build environment has no network access, so nothing here was downloaded). Where a provider
publishes a price as a rule rather than a table, the rule is applied here and says so (Windows
licence per vCPU, RDS Multi-AZ = 2 x Single-AZ, ...). `statehouse pricing import FILE` replaces
any of these with prices read from the provider's own price files.

Run: python3 pricing/tools/gen_shipped_catalog.py  (from the repository root; stdlib only).
Exact decimals throughout (decimal.Decimal from strings), never binary floats.
"""

import json
import os
import sys
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)

EFFECTIVE_DATE = "2025-01-01"


def num(value):
    """Plain decimal text without trailing zeros ("0.0104", "730")."""
    d = D(str(value))
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class Doc:
    def __init__(self, provider, source):
        self.provider = provider
        self.source = source
        self.prices = {}
        self.machines = {}

    def add(self, service, region, attributes, unit, price):
        key = (service, region, tuple(sorted(attributes.items())))
        if key in self.prices:
            raise SystemExit(f"duplicate price {key}")
        self.prices[key] = (unit, num(price))

    def write(self, name):
        lines = ["{",
                 '  "catalog_version": 1,',
                 f'  "provider": {json.dumps(self.provider)},',
                 '  "currency": "USD",',
                 f'  "effective_date": {json.dumps(EFFECTIVE_DATE)},',
                 f'  "source": {json.dumps(self.source)},',
                 '  "prices": [']
        entries = []
        for (service, region, attrs), (unit, price) in sorted(self.prices.items()):
            entry = {"service": service, "region": region, "attributes": dict(attrs),
                     "unit": unit, "price": price}
            entries.append("    " + json.dumps(entry, separators=(", ", ": ")))
        lines.append(",\n".join(entries))
        if self.machines:
            lines.append("  ],")
            lines.append('  "machine_types": {')
            m = []
            for mname in sorted(self.machines, key=machine_sort_key):
                vcpus, mem = self.machines[mname]
                m.append(f'    {json.dumps(mname)}: {{"vcpus": "{num(vcpus)}", "memory_gb": "{num(mem)}"}}')
            lines.append(",\n".join(m))
            lines.append("  }")
        else:
            lines.append("  ]")
        lines.append("}")
        text = "\n".join(lines) + "\n"
        json.loads(text)  # must be valid JSON
        with open(os.path.join(OUT, name), "w") as f:
            f.write(text)
        return len(self.prices)


def machine_sort_key(name):
    parts = name.rsplit("-", 1)
    return (parts[0], int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else 0, name)


COMMON_SOURCE = ("transcribed by hand from the provider's published on-demand list prices "
                 "(pricing pages and price files) as they stood around the start of 2025; not "
                 "downloaded (the build environment has no internet access), so check them "
                 "before relying on them and refresh with `statehouse pricing import FILE`. "
                 "Where the provider publishes a rule rather than a table, the rule is applied "
                 "(see pricing/README.md, Sources)")

# ---------------------------------------------------------------------------------------------
# AWS
# ---------------------------------------------------------------------------------------------
AWS_REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1"]
US = ["us-east-1", "us-east-2", "us-west-2"]  # the three US regions share list prices

SIZES_T = ["nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"]
SIZES_M = ["large", "xlarge", "2xlarge", "4xlarge"]
VCPUS = {"nano": 2, "micro": 2, "small": 2, "medium": 2, "large": 2, "xlarge": 4,
         "2xlarge": 8, "4xlarge": 16}
T2_VCPUS = {"nano": 1, "micro": 1, "small": 1, "medium": 2, "large": 2, "xlarge": 4, "2xlarge": 8}

# Linux, shared tenancy, $/hour: family -> {region group -> prices by size}
EC2_LINUX = {
    "t2": (SIZES_T, {"us": "0.0058 0.0116 0.023 0.0464 0.0928 0.1856 0.3712",
                     "eu-west-1": "0.0063 0.0126 0.025 0.05 0.1008 0.2016 0.4032",
                     "eu-central-1": "0.0067 0.0134 0.0268 0.0536 0.1072 0.2144 0.4288"}),
    "t3": (SIZES_T, {"us": "0.0052 0.0104 0.0208 0.0416 0.0832 0.1664 0.3328",
                     "eu-west-1": "0.0057 0.0114 0.0228 0.0456 0.0912 0.1824 0.3648",
                     "eu-central-1": "0.006 0.012 0.024 0.048 0.096 0.192 0.384"}),
    "t3a": (SIZES_T, {"us": "0.0047 0.0094 0.0188 0.0376 0.0752 0.1504 0.3008",
                      "eu-west-1": "0.0051 0.0102 0.0204 0.0408 0.0816 0.1632 0.3264",
                      "eu-central-1": "0.0054 0.0108 0.0216 0.0432 0.0864 0.1728 0.3456"}),
    "t4g": (SIZES_T, {"us": "0.0042 0.0084 0.0168 0.0336 0.0672 0.1344 0.2688",
                      "eu-west-1": "0.0046 0.0092 0.0184 0.0368 0.0736 0.1472 0.2944",
                      "eu-central-1": "0.0048 0.0096 0.0192 0.0384 0.0768 0.1536 0.3072"}),
    "m5": (SIZES_M, {"us": "0.096 0.192 0.384 0.768",
                     "eu-west-1": "0.107 0.214 0.428 0.856",
                     "eu-central-1": "0.115 0.23 0.46 0.92"}),
    "m6i": (SIZES_M, {"us": "0.096 0.192 0.384 0.768",
                      "eu-west-1": "0.107 0.214 0.428 0.856",
                      "eu-central-1": "0.115 0.23 0.46 0.92"}),
    "m7i": (SIZES_M, {"us": "0.1008 0.2016 0.4032 0.8064",
                      "eu-west-1": "0.11235 0.2247 0.4494 0.8988",
                      "eu-central-1": "0.12075 0.2415 0.483 0.966"}),
    "c5": (SIZES_M, {"us": "0.085 0.17 0.34 0.68",
                     "eu-west-1": "0.096 0.192 0.384 0.768",
                     "eu-central-1": "0.097 0.194 0.388 0.776"}),
    "c6i": (SIZES_M, {"us": "0.085 0.17 0.34 0.68",
                      "eu-west-1": "0.096 0.192 0.384 0.768",
                      "eu-central-1": "0.097 0.194 0.388 0.776"}),
    "r5": (SIZES_M, {"us": "0.126 0.252 0.504 1.008",
                     "eu-west-1": "0.141 0.282 0.564 1.128",
                     "eu-central-1": "0.152 0.304 0.608 1.216"}),
    "r6i": (SIZES_M, {"us": "0.126 0.252 0.504 1.008",
                      "eu-west-1": "0.141 0.282 0.564 1.128",
                      "eu-central-1": "0.152 0.304 0.608 1.216"}),
}

# Windows Server licence added to the Linux price, the same in every region: $0.046 per vCPU-hour
# (AWS's published per-vCPU rate, "Optimize CPUs" pricing) for fixed-performance instances; the
# burstable families carry smaller fixed fees per size.
WINDOWS_FEE_T = {
    "t2": dict(zip(SIZES_T, "0.0023 0.0046 0.009 0.018 0.028 0.041 0.062".split())),
    "t3": dict(zip(SIZES_T, "0.0046 0.0092 0.0184 0.0184 0.0276 0.0288 0.0304".split())),
    "t3a": dict(zip(SIZES_T, "0.0046 0.0092 0.0184 0.0184 0.0276 0.0288 0.0304".split())),
}


def windows_fee(family, size):
    if family in WINDOWS_FEE_T:
        return D(WINDOWS_FEE_T[family][size])
    return D("0.046") * VCPUS[size]


def rhel_fee(vcpus):
    # Red Hat's per-vCPU model (AWS, since July 2024): $0.0144 per vCPU-hour up to 4 vCPUs,
    # $0.0108 per vCPU-hour above.
    return (D("0.0144") if vcpus <= 4 else D("0.0108")) * vcpus


def suse_fee(vcpus):
    # SUSE Linux Enterprise Server subscription as AWS lists it for these sizes: $0.03 an hour for
    # up to 2 vCPUs, $0.06 for 4, $0.12 for 8 and more (least certain figures of this file).
    return {1: D("0.03"), 2: D("0.03"), 4: D("0.06")}.get(vcpus, D("0.12") * (vcpus // 8))


def aws_region_prices(table):
    out = {}
    for group, values in table.items():
        regions = US if group == "us" else [group]
        for r in regions:
            out[r] = values.split()
    return out


def gen_aws():
    doc = Doc("aws", "AWS Price List (on-demand, USD): " + COMMON_SOURCE)
    for family, (sizes, table) in EC2_LINUX.items():
        for region, values in aws_region_prices(table).items():
            for size, linux in zip(sizes, values):
                itype = f"{family}.{size}"
                vcpus = (T2_VCPUS if family == "t2" else VCPUS)[size]
                linux = D(linux)
                oses = {"linux": linux}
                if family != "t4g":  # Graviton: no Windows
                    oses["windows"] = linux + windows_fee(family, size)
                if family in ("m5", "t3"):
                    oses["rhel"] = linux + rhel_fee(vcpus)
                    oses["suse"] = linux + suse_fee(vcpus)
                for os_name, price in oses.items():
                    doc.add("ec2_instance", region,
                            {"instance_type": itype, "os": os_name, "tenancy": "shared"}, "hours",
                            price)
                if family in ("m5", "c5", "r5"):
                    # Dedicated Instances: AWS lists these about 10% above shared tenancy (the
                    # per-region $2/hour dedicated fee is separate and not modelled).
                    ded = (linux * D("1.1")).quantize(D("0.001"), ROUND_HALF_UP)
                    doc.add("ec2_instance", region,
                            {"instance_type": itype, "os": "linux", "tenancy": "dedicated"},
                            "hours", ded)
                    doc.add("ec2_instance", region,
                            {"instance_type": itype, "os": "windows", "tenancy": "dedicated"},
                            "hours", ded + windows_fee(family, size))

    # Unlimited-mode surplus credits, $ per vCPU-hour, same in these regions.
    for region in AWS_REGIONS:
        for family, linux in (("t2", "0.05"), ("t3", "0.05"), ("t3a", "0.05"), ("t4g", "0.04")):
            doc.add("ec2_cpu_credits", region, {"family": family, "os": "linux"}, "vCPU-hours", linux)
            if family != "t4g":
                doc.add("ec2_cpu_credits", region, {"family": family, "os": "windows"},
                        "vCPU-hours", "0.096")
        doc.add("cloudwatch_detailed_monitoring", region, {}, "metrics-months", "0.30")

    def regional(service, attrs, unit, us, euw, euc):
        for r in US:
            doc.add(service, r, attrs, unit, us)
        doc.add(service, "eu-west-1", attrs, unit, euw)
        doc.add(service, "eu-central-1", attrs, unit, euc)

    for vt, us, euw, euc in (("gp2", "0.10", "0.11", "0.119"), ("gp3", "0.08", "0.088", "0.0952"),
                             ("io1", "0.125", "0.138", "0.149"), ("io2", "0.125", "0.138", "0.149"),
                             ("st1", "0.045", "0.05", "0.054"), ("sc1", "0.015", "0.0168", "0.018"),
                             ("standard", "0.05", "0.055", "0.059")):
        regional("ebs_storage", {"volume_type": vt}, "GB-months", us, euw, euc)
    regional("ebs_iops", {"volume_type": "gp3", "tier": "0"}, "IOPS-months", "0.005", "0.0055", "0.006")
    regional("ebs_iops", {"volume_type": "io1", "tier": "0"}, "IOPS-months", "0.065", "0.072", "0.078")
    regional("ebs_iops", {"volume_type": "io2", "tier": "0"}, "IOPS-months", "0.065", "0.072", "0.078")
    regional("ebs_iops", {"volume_type": "io2", "tier": "32000"}, "IOPS-months", "0.0455", "0.0504",
             "0.0546")
    regional("ebs_iops", {"volume_type": "io2", "tier": "64000"}, "IOPS-months", "0.032", "0.0353",
             "0.0382")
    regional("ebs_throughput", {"volume_type": "gp3"}, "MiBps-months", "0.04", "0.044", "0.048")
    regional("ebs_io_requests", {"volume_type": "standard"}, "1M requests", "0.05", "0.055", "0.059")

    # RDS, Single-AZ $/hour; Multi-AZ (one standby) is listed at exactly twice the Single-AZ price.
    rds_classes = ["db.t3.micro", "db.t3.small", "db.t3.medium", "db.t3.large",
                   "db.t4g.micro", "db.t4g.small", "db.t4g.medium", "db.t4g.large",
                   "db.m5.large", "db.m5.xlarge", "db.m5.2xlarge",
                   "db.m6g.large", "db.m6g.xlarge", "db.m6g.2xlarge",
                   "db.r5.large", "db.r5.xlarge", "db.r5.2xlarge",
                   "db.r6g.large", "db.r6g.xlarge"]
    rds = {
        ("mysql", "us"): "0.017 0.034 0.068 0.136 0.016 0.032 0.065 0.129 0.171 0.342 0.684 "
                         "0.152 0.304 0.608 0.24 0.48 0.96 0.215 0.43",
        ("postgres", "us"): "0.018 0.036 0.072 0.145 0.016 0.032 0.065 0.129 0.178 0.356 0.712 "
                            "0.159 0.318 0.636 0.25 0.5 1 0.225 0.45",
        ("mysql", "eu-west-1"): "0.018 0.036 0.072 0.144 0.017 0.034 0.068 0.136 0.19 0.38 0.76 "
                                "0.168 0.336 0.672 0.27 0.54 1.08 0.242 0.484",
        ("postgres", "eu-west-1"): "0.019 0.038 0.076 0.152 0.017 0.034 0.068 0.136 0.197 0.394 "
                                   "0.788 0.175 0.35 0.7 0.28 0.56 1.12 0.252 0.504",
        ("mysql", "eu-central-1"): "0.02 0.04 0.08 0.16 0.019 0.038 0.076 0.152 0.198 0.396 0.792 "
                                   "0.178 0.356 0.712 0.29 0.58 1.16 0.26 0.52",
        ("postgres", "eu-central-1"): "0.021 0.042 0.084 0.168 0.019 0.038 0.076 0.152 0.206 0.412 "
                                      "0.824 0.186 0.372 0.744 0.3 0.6 1.2 0.27 0.54",
    }
    for (engine, group), values in rds.items():
        regions = US if group == "us" else [group]
        engines = ["mysql", "mariadb"] if engine == "mysql" else [engine]  # MariaDB = MySQL
        for region in regions:
            for cls, price in zip(rds_classes, values.split(), strict=True):
                for eng in engines:
                    for dep, mult in (("single-az", 1), ("multi-az", 2)):
                        doc.add("rds_instance", region,
                                {"instance_class": cls, "engine": eng, "deployment": dep}, "hours",
                                D(price) * mult)
    for vt, us, euw, euc in (("gp2", "0.115", "0.127", "0.133"), ("gp3", "0.115", "0.127", "0.133"),
                             ("io1", "0.125", "0.138", "0.149"), ("standard", "0.10", "0.11", "0.116")):
        for dep, mult in (("single-az", 1), ("multi-az", 2)):
            regional("rds_storage", {"volume_type": vt, "deployment": dep}, "GB-months",
                     D(us) * mult, D(euw) * mult, D(euc) * mult)
    for dep, mult in (("single-az", 1), ("multi-az", 2)):
        regional("rds_iops", {"volume_type": "io1", "deployment": dep}, "IOPS-months",
                 D("0.10") * mult, D("0.11") * mult, D("0.12") * mult)
    regional("rds_backup_storage", {}, "GB-months", "0.095", "0.095", "0.095")

    regional("nat_gateway", {}, "hours", "0.045", "0.048", "0.052")
    regional("nat_gateway_data", {}, "GB", "0.045", "0.048", "0.052")
    regional("elb", {"lb_type": "application"}, "hours", "0.0225", "0.0252", "0.027")
    regional("elb", {"lb_type": "network"}, "hours", "0.0225", "0.0252", "0.027")
    regional("elb", {"lb_type": "gateway"}, "hours", "0.0125", "0.014", "0.015")
    regional("elb_capacity_units", {"lb_type": "application"}, "LCU-hours", "0.008", "0.008", "0.008")
    regional("elb_capacity_units", {"lb_type": "network"}, "LCU-hours", "0.006", "0.006", "0.006")
    regional("elb_capacity_units", {"lb_type": "gateway"}, "LCU-hours", "0.004", "0.0044", "0.0048")
    regional("eip", {}, "hours", "0.005", "0.005", "0.005")
    regional("eks_cluster", {}, "hours", "0.10", "0.10", "0.10")

    cache_types = ["cache.t3.micro", "cache.t3.small", "cache.t3.medium",
                   "cache.t4g.micro", "cache.t4g.small", "cache.t4g.medium",
                   "cache.m5.large", "cache.m5.xlarge", "cache.m6g.large", "cache.m6g.xlarge",
                   "cache.r5.large", "cache.r5.xlarge", "cache.r6g.large", "cache.r6g.xlarge"]
    cache = {
        "us": "0.017 0.034 0.068 0.016 0.032 0.065 0.156 0.311 0.149 0.298 0.216 0.431 0.206 0.411",
        "eu-west-1": "0.018 0.036 0.073 0.017 0.034 0.068 0.17 0.339 0.161 0.322 0.241 0.482 "
                     "0.229 0.458",
        "eu-central-1": "0.019 0.038 0.076 0.018 0.036 0.072 0.179 0.358 0.171 0.341 0.25 0.5 "
                        "0.238 0.476",
    }
    for group, values in cache.items():
        for region in (US if group == "us" else [group]):
            for node, price in zip(cache_types, values.split(), strict=True):
                for engine in ("redis", "memcached"):  # listed at the same price
                    doc.add("elasticache_node", region, {"node_type": node, "engine": engine},
                            "hours", price)
    regional("elasticache_backup", {}, "GB-months", "0.085", "0.085", "0.085")

    # DynamoDB: provisioned capacity per unit-hour; on-demand requests after the November 2024
    # price cut.
    regional("dynamodb_wcu", {}, "WCU-hours", "0.00065", "0.000735", "0.000793")
    regional("dynamodb_rcu", {}, "RCU-hours", "0.00013", "0.000147", "0.0001586")
    regional("dynamodb_write_request", {}, "1M requests", "0.625", "0.7063", "0.7625")
    regional("dynamodb_read_request", {}, "1M requests", "0.125", "0.1413", "0.1525")
    regional("dynamodb_storage", {}, "GB-months", "0.25", "0.283", "0.306")
    regional("lambda_requests", {}, "1M requests", "0.20", "0.20", "0.20")
    regional("lambda_duration", {"architecture": "x86_64"}, "GB-seconds", "0.0000166667",
             "0.0000166667", "0.0000166667")
    regional("lambda_duration", {"architecture": "arm64"}, "GB-seconds", "0.0000133334",
             "0.0000133334", "0.0000133334")
    regional("s3_storage", {"storage_class": "standard"}, "GB-months", "0.023", "0.023", "0.0245")
    regional("s3_requests_tier1", {"storage_class": "standard"}, "1k requests", "0.005", "0.005",
             "0.0054")
    regional("s3_requests_tier2", {"storage_class": "standard"}, "1k requests", "0.0004", "0.0004",
             "0.00043")
    regional("cloudwatch_logs_ingestion", {}, "GB", "0.50", "0.57", "0.63")
    regional("cloudwatch_logs_storage", {}, "GB-months", "0.03", "0.03", "0.0324")
    regional("cloudwatch_logs_insights", {}, "GB", "0.005", "0.005", "0.0063")
    return doc


# ---------------------------------------------------------------------------------------------
# Google Cloud
# ---------------------------------------------------------------------------------------------
G_US = ["us-central1", "us-east1", "us-west1"]  # the Iowa / South Carolina / Oregon price tier
G_EU = ["europe-west1", "europe-west4"]

# $/vCPU-hour and $/GB-hour: family -> (us on-demand cpu, ram, eu on-demand cpu, ram,
#                                        us spot cpu, ram, eu spot cpu, ram)
G_COMPUTE = {
    "e2": ("0.02181159", "0.00292353", "0.02399275", "0.00321588",
           "0.00654348", "0.00087706", "0.00719782", "0.00096476"),
    "n1": ("0.031611", "0.004237", "0.0347721", "0.0046607",
           "0.00663831", "0.00088977", "0.00730214", "0.00097875"),
    "n2": ("0.031611", "0.004237", "0.0347721", "0.0046607",
           "0.00764", "0.001024", "0.008404", "0.0011264"),
    "n2d": ("0.027502", "0.003686", "0.0302522", "0.0040546",
            "0.00665", "0.000891", "0.007315", "0.00098"),
    "c2": ("0.03398", "0.00455", "0.03738", "0.00501",
           "0.00822", "0.0011", "0.009042", "0.00121"),
    "t2d": ("0.027502", "0.003686", "0.0302522", "0.0040546",
            "0.00665", "0.000891", "0.007315", "0.00098"),
    "c3": ("0.03465", "0.003938", "0.038115", "0.0043318",
           "0.008316", "0.000945", "0.0091476", "0.0010396"),
}


def gen_google():
    doc = Doc("google", "Google Cloud SKU prices (on-demand and spot, USD): " + COMMON_SOURCE +
              ". Spot (preemptible) prices change over time; these are indicative")
    for family, p in G_COMPUTE.items():
        for regions, cpu, ram, scpu, sram in ((G_US, p[0], p[1], p[4], p[5]),
                                              (G_EU, p[2], p[3], p[6], p[7])):
            for r in regions:
                doc.add("compute_cpu", r, {"family": family, "purchase": "on_demand"}, "vCPU-hours", cpu)
                doc.add("compute_ram", r, {"family": family, "purchase": "on_demand"}, "GB-hours", ram)
                doc.add("compute_cpu", r, {"family": family, "purchase": "preemptible"}, "vCPU-hours",
                        scpu)
                doc.add("compute_ram", r, {"family": family, "purchase": "preemptible"}, "GB-hours",
                        sram)
    for regions, f1, g1, f1p, g1p in ((G_US, "0.0076", "0.0257", "0.0035", "0.007"),
                                      (G_EU, "0.0086", "0.0285", "0.0039", "0.0077")):
        for r in regions:
            doc.add("compute_instance", r, {"machine_type": "f1-micro", "purchase": "on_demand"},
                    "hours", f1)
            doc.add("compute_instance", r, {"machine_type": "g1-small", "purchase": "on_demand"},
                    "hours", g1)
            doc.add("compute_instance", r, {"machine_type": "f1-micro", "purchase": "preemptible"},
                    "hours", f1p)
            doc.add("compute_instance", r, {"machine_type": "g1-small", "purchase": "preemptible"},
                    "hours", g1p)
    disks = {"us-central1": ("0.04", "0.10", "0.17", "0.125"),
             "us-east1": ("0.04", "0.10", "0.17", "0.125"),
             "us-west1": ("0.04", "0.10", "0.17", "0.125"),
             "europe-west1": ("0.04", "0.10", "0.17", "0.125"),
             "europe-west4": ("0.044", "0.11", "0.187", "0.138")}
    for r, prices in disks.items():
        for dt, price in zip(("pd-standard", "pd-balanced", "pd-ssd", "pd-extreme"), prices):
            doc.add("compute_disk", r, {"disk_type": dt}, "GB-months", price)
    # Cloud SQL for MySQL / PostgreSQL; regional (HA) is listed at twice the zonal price.
    sql = {"us": ("0.0105", "0.035", "0.0413", "0.007", "0.17", "0.09"),
           "eu": ("0.0115", "0.0385", "0.0454", "0.0077", "0.187", "0.099")}
    for group, (f1, g1, cpu, mem, ssd, hdd) in sql.items():
        for r in (G_US if group == "us" else G_EU):
            for avail, mult in (("zonal", 1), ("regional", 2)):
                doc.add("sql_instance", r, {"tier": "db-f1-micro", "availability": avail}, "hours",
                        D(f1) * mult)
                doc.add("sql_instance", r, {"tier": "db-g1-small", "availability": avail}, "hours",
                        D(g1) * mult)
                doc.add("sql_cpu", r, {"availability": avail}, "vCPU-hours", D(cpu) * mult)
                doc.add("sql_memory", r, {"availability": avail}, "GB-hours", D(mem) * mult)
                doc.add("sql_storage", r, {"disk_type": "ssd", "availability": avail}, "GB-months",
                        D(ssd) * mult)
                doc.add("sql_storage", r, {"disk_type": "hdd", "availability": avail}, "GB-months",
                        D(hdd) * mult)
    for r in G_US + G_EU:
        doc.add("gke_cluster", r, {}, "hours", "0.10")

    m = doc.machines
    m["e2-micro"] = ("0.25", "1")
    m["e2-small"] = ("0.5", "2")
    m["e2-medium"] = ("1", "4")
    for n in (2, 4, 8, 16, 32):
        m[f"e2-standard-{n}"] = (n, 4 * n)
        m[f"n2-standard-{n}"] = (n, 4 * n)
        m[f"n2d-standard-{n}"] = (n, 4 * n)
    for n in (2, 4, 8, 16):
        m[f"e2-highmem-{n}"] = (n, 8 * n)
        m[f"e2-highcpu-{n}"] = (n, n)
        m[f"n2-highmem-{n}"] = (n, 8 * n)
    for n in (2, 4, 8, 16):
        m[f"n1-highmem-{n}"] = (n, D("6.5") * n)
        m[f"n1-highcpu-{n}"] = (n, D("0.9") * n)
        m[f"n2-highcpu-{n}"] = (n, n)
        m[f"n2d-highmem-{n}"] = (n, 8 * n)
        m[f"n2d-highcpu-{n}"] = (n, n)
    for n in (1, 2, 4, 8, 16, 32):
        m[f"n1-standard-{n}"] = (n, D("3.75") * n)
    for n in (4, 8, 16, 30, 60):
        m[f"c2-standard-{n}"] = (n, 4 * n)
    for n in (1, 2, 4, 8, 16):
        m[f"t2d-standard-{n}"] = (n, 4 * n)
    for n in (4, 8, 22):
        m[f"c3-standard-{n}"] = (n, 4 * n)
        m[f"c3-highcpu-{n}"] = (n, 2 * n)
        m[f"c3-highmem-{n}"] = (n, 8 * n)
    return doc


# ---------------------------------------------------------------------------------------------
# Azure
# ---------------------------------------------------------------------------------------------
AZ_REGIONS = ["eastus", "eastus2", "westus2", "westeurope", "northeurope"]
AZ_US = ["eastus", "eastus2", "westus2"]

AZ_SIZES = ["B1s", "B1ms", "B2s", "B2ms", "B4ms", "B8ms",
            "D2s_v3", "D4s_v3", "D8s_v3", "D16s_v3",
            "D2s_v4", "D4s_v4", "D8s_v4",
            "D2s_v5", "D4s_v5", "D8s_v5", "D16s_v5",
            "D2as_v5", "D4as_v5", "D8as_v5",
            "E2s_v5", "E4s_v5", "E8s_v5",
            "F2s_v2", "F4s_v2", "F8s_v2", "F16s_v2"]
AZ_LINUX = {
    "us": "0.0104 0.0207 0.0416 0.0832 0.166 0.333 "
          "0.096 0.192 0.384 0.768 0.096 0.192 0.384 0.096 0.192 0.384 0.768 "
          "0.086 0.172 0.344 0.126 0.252 0.504 0.0846 0.169 0.338 0.677",
    "westeurope": "0.0114 0.0228 0.0456 0.0912 0.182 0.364 "
                  "0.12 0.24 0.48 0.96 0.115 0.23 0.46 0.115 0.23 0.46 0.92 "
                  "0.103 0.206 0.412 0.152 0.304 0.608 0.096 0.192 0.384 0.768",
    "northeurope": "0.0108 0.0216 0.0432 0.0864 0.173 0.346 "
                   "0.107 0.214 0.428 0.856 0.107 0.214 0.428 0.107 0.214 0.428 0.856 "
                   "0.096 0.192 0.384 0.141 0.282 0.564 0.0914 0.183 0.366 0.731",
}
# Windows Server licence, the same in every region: $0.046 per vCPU-hour, less on B-series.
AZ_WINDOWS_FEE_B = {"B1s": "0.0042", "B1ms": "0.0046", "B2s": "0.008", "B2ms": "0.0088",
                    "B4ms": "0.026", "B8ms": "0.051"}


def az_vcpus(size):
    digits = "".join(ch for ch in size.split("_")[0] if ch.isdigit())
    return int(digits)


AZ_DISK_TIERS = {
    "S": ["S4", "S6", "S10", "S15", "S20", "S30", "S40", "S50", "S60", "S70", "S80"],
    "E": ["E1", "E2", "E3", "E4", "E6", "E10", "E15", "E20", "E30", "E40", "E50", "E60", "E70", "E80"],
    "P": ["P1", "P2", "P3", "P4", "P6", "P10", "P15", "P20", "P30", "P40", "P50", "P60", "P70", "P80"],
}
AZ_DISK_LRS = {
    "us": {"S": "1.54 3.01 5.89 11.33 21.76 40.96 77.83 143.36 262.14 524.29 1048.58",
           "E": "0.3 0.6 1.2 2.4 4.8 9.6 19.2 38.4 76.8 153.6 307.2 614.4 1228.8 2457.6",
           "P": "0.77 1.54 3.08 5.28 10.21 19.71 38.02 73.22 135.17 259.05 495.57 946.08 1802.24 "
                "3604.48"},
    "westeurope": {"S": "1.7 3.32 6.5 12.51 24.03 45.23 85.94 158.3 289.46 578.93 1157.86",
                   "E": "0.33 0.66 1.32 2.64 5.28 10.56 21.12 42.24 84.48 168.96 337.92 675.84 "
                        "1351.68 2703.36",
                   "P": "0.86 1.71 3.42 5.86 11.33 21.68 41.82 80.54 148.68 284.95 545.13 1040.69 "
                        "1982.46 3964.93"},
    "northeurope": {"S": "1.54 3.01 5.89 11.33 21.76 40.96 77.83 143.36 262.14 524.29 1048.58",
                    "E": "0.3 0.6 1.2 2.4 4.8 9.6 19.2 38.4 76.8 153.6 307.2 614.4 1228.8 2457.6",
                    "P": "0.8 1.6 3.2 5.48 10.59 20.44 39.43 75.94 140.19 268.67 513.97 981.21 "
                         "1869.21 3738.4"},
}


def gen_azure():
    doc = Doc("azure", "Azure Retail Prices (pay as you go, USD): " + COMMON_SOURCE)
    for group, values in AZ_LINUX.items():
        for region in (AZ_US if group == "us" else [group]):
            for size, linux in zip(AZ_SIZES, values.split(), strict=True):
                linux = D(linux)
                fee = D(AZ_WINDOWS_FEE_B[size]) if size in AZ_WINDOWS_FEE_B else D("0.046") * az_vcpus(size)
                doc.add("vm", region, {"vm_size": f"Standard_{size}", "os": "linux"}, "hours", linux)
                doc.add("vm", region, {"vm_size": f"Standard_{size}", "os": "windows"}, "hours",
                        linux + fee)
    for group, kinds in AZ_DISK_LRS.items():
        for region in (AZ_US if group == "us" else [group]):
            for kind, values in kinds.items():
                for tier, price in zip(AZ_DISK_TIERS[kind], values.split(), strict=True):
                    doc.add("managed_disk", region, {"tier": tier, "redundancy": "lrs"}, "months",
                            price)
                    if kind in ("E", "P"):
                        # ZRS disks are listed at 1.5 x the LRS price (rounded to the cent).
                        zrs = (D(price) * D("1.5")).quantize(D("0.01"), ROUND_HALF_UP)
                        doc.add("managed_disk", region, {"tier": tier, "redundancy": "zrs"},
                                "months", zrs)
    for region in AZ_REGIONS:
        doc.add("managed_disk_operations", region, {"disk_kind": "standard_hdd"}, "10k operations",
                "0.0005")
        doc.add("managed_disk_operations", region, {"disk_kind": "standard_ssd"}, "10k operations",
                "0.002")
        doc.add("aks_uptime_sla", region, {"sku_tier": "standard"}, "hours", "0.10")
        doc.add("aks_uptime_sla", region, {"sku_tier": "premium"}, "hours", "0.60")
    return doc


def main():
    counts = {}
    counts["aws.json"] = gen_aws().write("aws.json")
    counts["google.json"] = gen_google().write("google.json")
    counts["azure.json"] = gen_azure().write("azure.json")
    for name, n in counts.items():
        print(f"{name}: {n} prices", file=sys.stderr)


if __name__ == "__main__":
    main()
