"""Bedrock Converse media blocks: our images, documents and video as `image` / `document` / `video`
blocks (base64 `bytes`, or an `s3Location` for `s3://` URLs), with the formats Converse takes.

A sibling of `modelkit.models.bedrock`, which keeps the rest of the request mapping.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from ..exceptions import UserError
from ..messages import BinaryContent
from ..messages import DocumentUrl
from ..messages import ImageUrl
from ..messages import UserContent

__all__ = ('Documents', 'map_user_content')

_IMAGE_FORMATS = {
    'image/png': 'png',
    'image/jpeg': 'jpeg',
    'image/jpg': 'jpeg',
    'image/gif': 'gif',
    'image/webp': 'webp',
}
_DOCUMENT_FORMATS = {
    'application/pdf': 'pdf',
    'text/csv': 'csv',
    'application/msword': 'doc',
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
    'application/vnd.ms-excel': 'xls',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
    'text/html': 'html',
    'text/plain': 'txt',
    'text/markdown': 'md',
}
_VIDEO_FORMATS = {
    'video/x-matroska': 'mkv',
    'video/quicktime': 'mov',
    'video/mp4': 'mp4',
    'video/webm': 'webm',
    'video/x-flv': 'flv',
    'video/mpeg': 'mpeg',
    'video/x-ms-wmv': 'wmv',
    'video/3gpp': 'three_gp',
}


class Documents:
    """Numbers documents across one request: Bedrock wants each document in a message named uniquely."""

    __slots__ = ('count',)

    def __init__(self) -> None:
        self.count = 0

    def name(self) -> str:
        self.count += 1
        return f'Document {self.count}'


def map_user_content(content: str | Sequence[UserContent], documents: Documents) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{'text': content}] if content else []
    blocks: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, str):
            if item:
                blocks.append({'text': item})
        elif isinstance(item, BinaryContent):
            blocks.append(_map_binary(item, documents))
        elif isinstance(item, ImageUrl | DocumentUrl) and item.url.startswith('s3://'):
            blocks.append(_map_s3(item, documents))
        else:
            raise UserError(
                f'Bedrock Converse cannot fetch media from a URL ({item.url}): pass an s3:// URL, '
                'or download it and pass the bytes as BinaryContent(data=..., media_type=...)'
            )
    return blocks


def _media_format(media_type: str, formats: dict[str, str], what: str) -> str:
    found = formats.get(media_type.split(';', 1)[0].strip().lower())
    if found is None:
        raise UserError(
            f'Bedrock Converse does not take {what} of type {media_type!r}; it takes {", ".join(formats)}'
        )
    return found


def _map_binary(item: BinaryContent, documents: Documents) -> dict[str, Any]:
    source = {'bytes': base64.b64encode(item.data).decode()}
    if item.is_image:
        return {
            'image': {'format': _media_format(item.media_type, _IMAGE_FORMATS, 'images'), 'source': source}
        }
    if item.media_type.startswith('video/'):
        return {
            'video': {'format': _media_format(item.media_type, _VIDEO_FORMATS, 'video'), 'source': source}
        }
    if item.is_audio:
        raise UserError('Bedrock Converse does not take audio input')
    document_format = _media_format(item.media_type, _DOCUMENT_FORMATS, 'documents')
    return {'document': {'format': document_format, 'name': documents.name(), 'source': source}}


def _map_s3(item: ImageUrl | DocumentUrl, documents: Documents) -> dict[str, Any]:
    source = {'s3Location': {'uri': item.url}}
    if isinstance(item, ImageUrl):
        return {
            'image': {'format': _media_format(item.media_type, _IMAGE_FORMATS, 'images'), 'source': source}
        }
    document_format = _media_format(item.media_type, _DOCUMENT_FORMATS, 'documents')
    return {'document': {'format': document_format, 'name': documents.name(), 'source': source}}
