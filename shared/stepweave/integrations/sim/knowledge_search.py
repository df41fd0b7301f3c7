"""Search a Sim knowledge base by vector similarity (Sim's ``knowledge`` block and agent
tool, ``knowledge_search``): the chunks most similar to the query, best first."""

OPERATION = {
    "description": "Search a knowledge base for the content most similar to a query.",
    "params": {
        "knowledgeBaseId": {"required": True, "description": "the knowledge base's id",
                            "sim": ["knowledgeBaseId", "knowledgeBaseSelector",
                                    "manualKnowledgeBaseId"]},
        "query": {"required": True, "description": "what to search for"},
        "topK": {"type": "integer", "default": 10,
                 "description": "how many results, 1 to 100"},
        "tagFilters": {"type": "any", "model": False,
                       "description": "Sim's tag filters: [{tagName, value}]"},
        "searchMode": {"enum": ["vector", "hybrid"], "model": False,
                       "description": "vector (Sim's default) or hybrid (full-text + vector)"},
    },
    "request": {
        "method": "POST",
        "path": "/knowledge/search",
        "body": {"workspaceId": "{workspaceId}", "knowledgeBaseIds": ["{knowledgeBaseId}"],
                 "query": "{query}", "topK": "{topK}", "tagFilters": "{tagFilters|json}",
                 "searchMode": "{searchMode}"},
    },
    "output": {
        "results": {"$each": "data.results", "$fields": {
            "documentId": "documentId", "documentName": "documentName", "content": "content",
            "chunkIndex": "chunkIndex", "metadata": "metadata", "similarity": "similarity",
            "sourceUrl": "sourceUrl"}},
        "query": "data.query",
        "totalResults": "data.totalResults",
    },
    "sim": {"blocks": ["knowledge"], "operations": ["search"], "tools": ["knowledge_search"]},
}
