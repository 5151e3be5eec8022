"""The task panels beside the document: Entities, Ask, Summary, Sentiment."""
