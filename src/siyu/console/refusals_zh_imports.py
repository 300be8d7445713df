"""The console's Chinese for the refusals of imports: files that cannot be read, workbooks,
mapping files, and the import page's uploads."""

from __future__ import annotations

IMPORTS_ZH: dict[str, str] = {
    # the export file
    "--oa-appid {given!r}: {reason}": "--oa-appid {given!r}：{reason}",
    "file not found: {path}": "找不到文件：{path}",
    "{path} is a directory; give the export file itself": "{path} 是文件夹，请给出导出文件本身。",
    "{path} is empty (0 bytes)": "{path} 是空文件（0 字节）。",
    "{path} is {size} GiB, larger than the limit of {limit} GiB (SIYU_IMPORT_MAX_BYTES); split "
    "the export by month": "{path} 有 {size} GiB，超过 {limit} GiB 的上限（SIYU_IMPORT_MAX_BYTES）；"
    "请按月拆分导出。",
    "this looks like a binary file, not a CSV export": "这看起来是二进制文件，不是 CSV 导出表。",
    "this file is a web page (an HTML table saved as .xls), not a spreadsheet; open it in "
    "Excel/WPS and save it as .xlsx or CSV": "这个文件其实是网页（保存成 .xls 的 HTML 表格），"
    "不是表格文件；请用 Excel / WPS 打开后另存为 .xlsx 或 CSV。",
    "cannot read the file's text encoding; save it as UTF-8 or GBK (GB18030) CSV": "无法识别文件的"
    "文字编码；请另存为 UTF-8 或 GBK（GB18030）编码的 CSV。",
    "the file has no header row": "文件没有表头行。",
    "the header is not valid {encoding} text": "表头不是有效的 {encoding} 文字。",
    "the header row cannot be read: {reason}": "表头行无法读取：{reason}",
    "missing required column(s) for {title}: {need}. The file's header is: {header}": "缺少"
    "「{title}」必需的列：{need}。文件的表头是：{header}",
    "unknown source {source!r} for {kind}; choose one of: {choices}": "{kind} 没有来源 {source!r}，"
    "可选：{choices}。",
    "stopped near row {row}: {reason}. Batches before it are stored; fix the file and import it "
    "again to resume.": "在第 {row} 行附近停止：{reason}。之前的批次已经保存；修好文件后再导入一次即可接着完成。",
    "the file has a header but no data rows": "文件只有表头，没有数据行。",
    # mapping files
    "mapping file {path} is not readable JSON: {reason}": "列名映射文件 {path} 不是有效的 JSON：{reason}",
    'mapping file must be a JSON object of "file header": "siyu field" pairs': "列名映射文件必须是"
    'JSON 对象，每一项写成 "文件里的列名": "Siyu 字段"。',
    "mapping names unknown field {field!r}; fields of {source} {kind}: {fields}": "映射里的字段 "
    "{field!r} 不存在；{source} {kind} 可用的字段：{fields}",
    "mapping names unknown field {field!r} (for {header!r}); fields of {source} {kind}: "
    "{fields}": "映射里的字段 {field!r}（对应列 {header!r}）不存在；{source} {kind} 可用的字段：{fields}",
    "mapping names column {column!r}, not in the file header": "映射里的列 {column!r} 不在文件表头中。",
    "the mapping file is larger than 64 KiB": "列名映射文件超过 64 KiB。",
    # workbooks
    "this looks like an Excel workbook (.xlsx) but cannot be read as one; open it in Excel/WPS "
    "and save it again": "这看起来是 Excel 表格（.xlsx），但无法读取；请用 Excel / WPS 打开后重新保存。",
    "this is a zip archive but not an Excel workbook (.xlsx); save the sheet as .xlsx or CSV": "这是"
    "压缩包，不是 Excel 表格（.xlsx）；请把表格另存为 .xlsx 或 CSV。",
    "the workbook has {parts} parts, more than a spreadsheet has": "这个表格文件包含 {parts} 个部件，"
    "远超正常表格，不予读取。",
    "the workbook is damaged or packed in a way it cannot be read ({part}); open it in Excel/WPS "
    "and save it again": "表格文件已损坏或压缩方式无法读取（{part}）；请用 Excel / WPS 打开后重新保存。",
    "the workbook unpacks to more than {limit} MiB (SIYU_IMPORT_XLSX_MAX_UNPACKED_BYTES); save it "
    "as CSV or split it": "表格解压后超过 {limit} MiB（SIYU_IMPORT_XLSX_MAX_UNPACKED_BYTES）；"
    "请另存为 CSV 或拆分后再导入。",
    "the workbook needs more memory to read than allowed (SIYU_IMPORT_XLSX_MAX_MEMORY_BYTES); save "
    "it as CSV or split it": "读取这个表格需要的内存超过上限（SIYU_IMPORT_XLSX_MAX_MEMORY_BYTES）；"
    "请另存为 CSV 或拆分后再导入。",
    "the workbook is password-protected; remove the password in Excel/WPS and save again": "表格设置了"
    "密码；请在 Excel / WPS 里取消密码后重新保存。",
    "the workbook has no sheet with data": "表格里没有含数据的工作表。",
    "the workbook cannot be read: {reason}; open it in Excel/WPS and save it again": "表格无法读取"
    "（{reason}）；请用 Excel / WPS 打开后重新保存。",
    # the import page's uploads
    "only .csv, .txt, .xlsx and .xls files can be imported (got {name!r})": "只能导入 .csv、.txt、"
    ".xlsx 和 .xls 文件（收到的是 {name!r}）。",
    "choose what the file holds: orders or customers": "请选择文件内容：订单或会员。",
    "choose the export file to upload": "请选择要上传的导出文件。",
    "several brands exist; choose the brand the file belongs to": "有多个品牌，请选择文件所属的品牌。",
    "shop name: at most 100 characters": "店铺名称：最多 100 个字符。",
    "the file is empty (0 bytes)": "文件是空的（0 字节）。",
    "the uploaded file is no longer there; upload it again": "上传的文件已不在服务器上，请重新上传。",
    "import {id} has no rejects file": "导入 #{id} 没有拒收明细。",
    "the form has too many fields": "表单字段太多。",
    "one export file per upload": "每次只能上传一个导出文件。",
    "CSRF token missing or wrong; reload the page and upload again": "页面已过期（CSRF 校验未通过），"
    "请刷新页面后重新上传。",
    "the form field {name!r} is too long": "表单字段 {name!r} 太长。",
    "the file is larger than the upload limit of {limit} (SIYU_UPLOAD_MAX_BYTES); split the "
    "export, or import it with `siyu import` on the server": "文件超过上传上限 {limit}"
    "（SIYU_UPLOAD_MAX_BYTES）；请拆分导出表，或在服务器上用 `siyu import` 导入。",
    "the upload was cut off before it was complete; upload the file again": "上传中断，文件不完整；"
    "请重新上传。",
    "the upload is not a form with a file (multipart/form-data)": "上传的不是带文件的表单"
    "（multipart/form-data）。",
    "the form could not be read: {reason}": "表单无法读取：{reason}",
}
