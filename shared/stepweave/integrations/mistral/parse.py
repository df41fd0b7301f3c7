"""OCR a document (PDF or image URL) into markdown, page by page (Sim's Mistral Parser)."""

OPERATION = {
    "description": "Extract the text of a PDF document as markdown with Mistral OCR.",
    "params": {
        "fileReference": {"type": "any", "required": True,
                          "description": "the document's URL (or a file object with a url)",
                          "sim": ["fileReference", "filePath", "file", "fileUpload"]},
        "pages": {"type": "array", "items": "integer",
                  "description": "page numbers to read, from 0 (default: all)"},
        "model": {"default": "mistral-ocr-latest", "model": False},
    },
    "request": {
        "method": "POST",
        "path": "/ocr",
        "body": {"model": "{model}",
                 "document": {"type": "document_url", "document_url": "{fileReference|file_url}"},
                 "pages": "{pages|nonempty}", "include_image_base64": {"$value": False}},
    },
    "output": {"content": "pages.*.markdown|join_paragraphs", "pages": "pages", "model": "model",
               "usage_info": "usage_info"},
    "sim": {"blocks": ["mistral_parse", "mistral_parse_v2", "mistral_parse_v3"],
            "tools": ["mistral_parser", "mistral_parser_v2", "mistral_parser_v3"]},
}
