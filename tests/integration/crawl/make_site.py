#!/usr/bin/env python3
"""Generates a local careers site and an nginx config serving it on loopback.

Used by tests/integration/crawl_*_test.cc and bench/crawl.sh. Never touches an outside address.

  make_site.py DIR PORT [--pages N] [--bench] [--robots-500-port PORT2]

DIR/www            the site (index, careers pages with JSON-LD / microdata JobPostings, traps)
DIR/nginx.conf     `nginx -p DIR -c DIR/nginx.conf` (user root; daemon off; pid/logs in DIR)
DIR/expected.json  {"postings": [job ids (identifier values)], "invalid": [...], "orphans": [...]}

Without --bench the site also has: broken HTML, a redirect chain and a redirect loop, robots.txt
rules (Disallow /private/ except /private/ok.html), a 503 page, a 404 link, throttled pages
(nginx limit_req → 429 with Retry-After), a slow page (limit_rate), gzip-compressed sitemaps
(index → urlset) listing orphan job pages that no page links to.
"""
import argparse
import gzip
import json
import os

COMPANIES = ["Acme KK", "Beta Systems", "Gamma Labs", "Delta Foods", "Epsilon Bank"]
CITIES = [("Tokyo", "JP"), ("Osaka", "JP"), ("Berlin", "DE"), ("Paris", "FR"), ("Austin", "US")]


def jsonld_page(i, ident, valid=True):
    company = COMPANIES[i % len(COMPANIES)]
    city, country = CITIES[i % len(CITIES)]
    posting = {
        "@context": "https://schema.org/",
        "@type": "JobPosting",
        "title": f"Engineer {i}",
        "description": f"<p>Build things, number {i}.</p>",
        "datePosted": "2026-01-%02d" % (1 + i % 28),
        "validThrough": "2026-12-31T00:00",
        "employmentType": "FULL_TIME",
        "hiringOrganization": {"@type": "Organization", "name": company, "sameAs": "https://example.invalid/" + company.split()[0].lower()},
        "jobLocation": {"@type": "Place", "address": {"@type": "PostalAddress", "addressLocality": city, "addressCountry": country}},
        "baseSalary": {"@type": "MonetaryAmount", "currency": "JPY", "value": {"@type": "QuantitativeValue", "minValue": 5000000 + i, "maxValue": 8000000 + i, "unitText": "YEAR"}},
        "identifier": {"@type": "PropertyValue", "name": company, "value": ident},
    }
    if not valid:
        del posting["datePosted"]
        del posting["jobLocation"]
    return (f"<!doctype html><html><head><title>Engineer {i} at {company}</title>"
            f"<meta name=\"description\" content=\"Job {i}\">"
            f"<script type=\"application/ld+json\">{json.dumps(posting)}</script></head>"
            f"<body><h1>Engineer {i}</h1><p>Apply now.</p><a href=\"/careers/\">All jobs</a>"
            f"<a href=\"/index.html\">Home</a></body></html>")


def microdata_page(i, ident):
    company = COMPANIES[i % len(COMPANIES)]
    city, country = CITIES[i % len(CITIES)]
    return f"""<!doctype html><html><head><title>Analyst {i}</title></head><body>
<div itemscope itemtype="https://schema.org/JobPosting">
 <h1 itemprop="title">Analyst {i}</h1>
 <div itemprop="description"><p>Analyse data, number {i}.</p></div>
 <time itemprop="datePosted" datetime="2026-02-{1 + i % 28:02d}">posted</time>
 <span itemprop="employmentType">PART_TIME</span>
 <div itemprop="hiringOrganization" itemscope itemtype="https://schema.org/Organization"><span itemprop="name">{company}</span></div>
 <div itemprop="jobLocation" itemscope itemtype="https://schema.org/Place">
  <div itemprop="address" itemscope itemtype="https://schema.org/PostalAddress">
   <span itemprop="addressLocality">{city}</span><meta itemprop="addressCountry" content="{country}"></div></div>
 <meta itemprop="identifier" content="{ident}">
</div><a href="/careers/">All jobs</a></body></html>"""


def write(path, data, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("port", type=int)
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--robots-500-port", type=int, default=0)
    a = ap.parse_args()
    www = os.path.join(a.dir, "www")
    expected = {"postings": [], "invalid": [], "orphans": []}
    links = []
    per_list = 100
    for i in range(a.pages):
        ident = f"JOB-{i:05d}"
        orphan = (not a.bench) and i % 10 == 9  # reachable only through the sitemap
        if a.bench or i % 2 == 0:  # bench: JSON-LD everywhere (the Scrapy peer extracts JSON-LD)
            valid = a.bench or i % 8 != 4
            write(f"{www}/careers/job-{i}.html", jsonld_page(i, ident, valid))
            if not valid:
                expected["invalid"].append(ident)
        else:
            write(f"{www}/careers/job-{i}.html", microdata_page(i, ident))
        expected["postings"].append(ident)
        if orphan:
            expected["orphans"].append(ident)
        else:
            links.append(f"/careers/job-{i}.html")
    # paginated listing pages
    lists = [links[k:k + per_list] for k in range(0, len(links), per_list)] or [[]]
    for n, chunk in enumerate(lists):
        nav = "".join(f'<li><a href="{u}">job</a></li>' for u in chunk)
        nxt = f'<a href="/careers/list-{n + 1}.html">next</a>' if n + 1 < len(lists) else ""
        name = "index.html" if n == 0 else f"list-{n}.html"
        write(f"{www}/careers/{name}", f"<html><head><title>Careers {n}</title></head><body><ul>{nav}</ul>{nxt}</body></html>")
    index = ['<a href="/careers/">Careers</a>']
    if not a.bench:
        index += ['<a href="/broken.html">broken</a>', '<a href="/redirect-1">redirect</a>',
                  '<a href="/loop-a">loop</a>', '<a href="/private/secret.html">secret</a>',
                  '<a href="/private/ok.html">ok</a>', '<a href="/missing.html">missing</a>',
                  '<a href="/error503">err</a>', '<a href="/slow/big.html">slow</a>',
                  '<a href="/dup-a.html">dup</a>', '<a href="/dup-b.html">dup</a>',
                  '<a href="mailto:jobs@example.invalid">mail</a>', '<a href="https://outside.invalid/">out</a>']
        index += [f'<a href="/throttled/t{k}.html">t</a>' for k in range(4)]
        write(f"{www}/broken.html", "<html><head><title>Broken<body><div><p>unclosed <a href='/careers/job-0.html'>x"
              "<script type='application/ld+json'>{\"@type\": \"JobPosting\", </script><table><td>cell")
        write(f"{www}/private/secret.html", "<html><body>secret</body></html>")
        write(f"{www}/private/ok.html", "<html><body>allowed by Allow</body></html>")
        write(f"{www}/dup-a.html", "<html><body>same content</body></html>")
        write(f"{www}/dup-b.html", "<html><body>same content</body></html>")
        write(f"{www}/slow/big.html", "<html><body>" + os.urandom(40000).hex() + "</body></html>")  # ~40 KB gzipped, 4 KB/s
        for k in range(4):
            write(f"{www}/throttled/t{k}.html", f"<html><body>throttled {k}</body></html>")
    write(f"{www}/index.html", "<html><head><title>Home</title></head><body>" + "".join(index) + "</body></html>")
    write(f"{www}/robots.txt",
          "# test robots\nUser-agent: *\nDisallow: /private/\nAllow: /private/ok.html\n\n"
          "User-agent: otherbot\nDisallow: /\n\n"
          f"Sitemap: http://127.0.0.1:{a.port}/sitemap-index.xml.gz\n")
    # sitemaps: an index (gzip) → a urlset (gzip) of every job page
    urls = "".join(f"<url><loc>http://127.0.0.1:{a.port}/careers/job-{i}.html</loc></url>" for i in range(a.pages))
    write(f"{www}/sitemap-jobs.xml.gz",
          gzip.compress(('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + urls + "</urlset>").encode()), "wb")
    write(f"{www}/sitemap-index.xml.gz",
          gzip.compress(('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                         f"<sitemap><loc>http://127.0.0.1:{a.port}/sitemap-jobs.xml.gz</loc></sitemap></sitemapindex>").encode()), "wb")
    second = ""
    if a.robots_500_port:
        second = f"""
  server {{
    listen 127.0.0.1:{a.robots_500_port};
    location = /robots.txt {{ return 500; }}
    location / {{ root {www}; }}
  }}"""
    conf = f"""user root;
worker_processes 2;
daemon off;
pid {a.dir}/nginx.pid;
error_log {a.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format withport '$server_port $remote_addr [$time_local] "$request" $status $body_bytes_sent "$http_user_agent"';
  access_log {a.dir}/access.log withport;
  client_body_temp_path {a.dir}/tmp-body;
  proxy_temp_path {a.dir}/tmp-proxy;
  fastcgi_temp_path {a.dir}/tmp-fastcgi;
  uwsgi_temp_path {a.dir}/tmp-uwsgi;
  scgi_temp_path {a.dir}/tmp-scgi;
  types {{ text/html html; text/plain txt; application/gzip gz; }}
  default_type application/octet-stream;
  keepalive_requests 100000;
  gzip on;
  gzip_types text/html;
  gzip_min_length 1;
  limit_req_zone $server_port zone=throttle:1m rate=1r/s;
  server {{
    listen 127.0.0.1:{a.port};
    root {www};
    location = /redirect-1 {{ return 301 /redirect-2; }}
    location = /redirect-2 {{ return 302 http://127.0.0.1:{a.port}/careers/; }}
    location = /loop-a {{ return 302 /loop-b; }}
    location = /loop-b {{ return 302 /loop-a; }}
    location = /error503 {{ return 503; }}
    location /throttled/ {{ limit_req zone=throttle; limit_req_status 429; add_header Retry-After 1 always; }}
    location /slow/ {{ limit_rate 4k; }}
  }}{second}
}}
"""
    write(os.path.join(a.dir, "nginx.conf"), conf)
    write(os.path.join(a.dir, "expected.json"), json.dumps(expected))


if __name__ == "__main__":
    main()
