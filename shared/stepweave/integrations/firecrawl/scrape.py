"""Scrape one page as markdown (and its metadata)."""

OPERATION = {
    "description": "Scrape a web page into clean markdown with Firecrawl.",
    "params": {
        "url": {"required": True, "description": "the page to scrape"},
        "onlyMainContent": {"type": "boolean", "default": True},
        "waitFor": {"type": "integer", "description": "milliseconds to wait before scraping",
                    "model": False},
        "timeout": {"type": "integer", "model": False},
    },
    "request": {
        "method": "POST",
        "path": "/scrape",
        "body": {"url": "{url}", "formats": ["markdown"], "onlyMainContent": "{onlyMainContent}",
                 "waitFor": "{waitFor}", "timeout": "{timeout}"},
    },
    "ok": "success",
    "output": {"markdown": "data.markdown", "metadata": "data.metadata",
               "creditsUsed": "creditsUsed"},
    "sim": {"blocks": ["firecrawl"], "operations": ["scrape"], "tools": ["firecrawl_scrape"]},
}
