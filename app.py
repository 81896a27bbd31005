"""The Gradio chat app: `python app.py` (configure with RAG_* environment variables)."""

from rag.web.serve import main

if __name__ == "__main__":
    main()
