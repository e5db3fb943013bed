/**
 * The TPOS fake's default data: a few rows per entity set with the key styles TPOS really uses
 * (ints for Partner/Product/FastSaleOrder, GUIDs for SaleOnline_Order) and Vietnamese text, so
 * encoding and key-parsing bugs show up in gateway tests.
 */
import type { Entity } from "./odata.js";

/** Default entity sets: int-keyed Partner/Product/FastSaleOrder, GUID-keyed SaleOnline_Order. */
export function defaultTposSeed(): Record<string, Entity[]> {
  const order = (i: number, day: string, partnerId: number, total: number): Entity => ({
    Id: `c2060000-5d17-0015-0634-08deb0edcf${(0xe0 + i).toString(16)}`,
    Code: `2605${String(1000 + i)}`,
    Name: `Khách ${i}`,
    Telephone: `09012345${String(10 + i)}`,
    PartnerId: partnerId,
    TotalAmount: total,
    StatusText: "Nháp",
    Facebook_ASUserId: `24000000000000${String(100 + i)}`,
    CRMTeamId: 1,
    DateCreated: `2026-05-${day}T08:0${i}:35.123+07:00`,
  });
  return {
    Partner: [
      {
        Id: 1,
        Name: "Nguyễn Văn A",
        Phone: "0901234567",
        Street: "12 Lê Lợi",
        Active: true,
        DateCreated: "2026-01-02T09:00:00+07:00",
      },
      {
        Id: 2,
        Name: "Trần Thị B",
        Phone: "0912345678",
        Street: "3 Hai Bà Trưng",
        Active: true,
        DateCreated: "2026-02-03T10:00:00+07:00",
      },
      {
        Id: 3,
        Name: "Lê Văn C",
        Phone: "0987654321",
        Street: null,
        Active: false,
        DateCreated: "2026-03-04T11:00:00+07:00",
      },
    ],
    SaleOnline_Order: [order(1, "20", 1, 350000), order(2, "22", 2, 120000), order(3, "25", 1, 990000)],
    Product: [
      {
        Id: 101,
        DefaultCode: "AO01",
        Name: "Áo thun trắng",
        ListPrice: 150000,
        QtyAvailable: 12,
        Active: true,
      },
      { Id: 102, DefaultCode: "QU02", Name: "Quần jean", ListPrice: 350000, QtyAvailable: 0, Active: true },
      { Id: 103, DefaultCode: "VA03", Name: "Váy hoa", ListPrice: 420000, QtyAvailable: 5, Active: false },
    ],
    FastSaleOrder: [
      {
        Id: 5001,
        Number: "INV/2026/0001",
        PartnerId: 1,
        AmountTotal: 350000,
        DateInvoice: "2026-05-21T09:00:00+07:00",
        OrderLines: [
          { Id: 1, ProductId: 102, ProductName: "Quần jean", ProductUOMQty: 1, PriceUnit: 350000 },
        ],
      },
    ],
    DeliveryCarrier: [
      { Id: 1, Name: "Giao hàng tiết kiệm", Active: true },
      { Id: 2, Name: "Viettel Post", Active: false },
    ],
  };
}
